-- One row per experiment assignment with the user's outcome since assignment: the input of the
-- A/B statistics (ab_test_results). Bots are kept, flagged: the sample-ratio test counts every
-- assignment, the metrics only humans.
with assignments as (
    select * from {{ ref('stg_firestore__experiment_assignments') }}
),

users as (
    select * from {{ ref('dim_users') }}
),

outcomes as (
    select
        experiment_id,
        user_id,
        cast(sum(purchases) as {{ dbt.type_bigint() }}) as purchases,  -- HUGEINT on DuckDB otherwise
        sum(revenue) as revenue
    from {{ ref('ab_test_variant_user_daily') }}
    group by experiment_id, user_id
),

final as (
    select
        assignments.experiment_id,
        assignments.variant_id,
        assignments.user_id,
        assignments.assigned_at,
        coalesce(users.is_bot, false) as is_bot,
        coalesce(outcomes.purchases, 0) as purchases,
        coalesce(outcomes.revenue, 0) as revenue,
        coalesce(outcomes.purchases, 0) > 0 as is_converted
    from assignments
    left join users on assignments.user_id = users.user_id
    left join outcomes
        on
            assignments.experiment_id = outcomes.experiment_id
            and assignments.user_id = outcomes.user_id
)

select * from final
