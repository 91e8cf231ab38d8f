-- One row per experiment assignment with the user's outcomes from the day of assignment on,
-- and the same measures over the cuped_lookback_days before it (pre_*: CUPED's covariates):
-- the input of the A/B statistics (ab_test_results). Bots are kept, flagged, with no outcome:
-- the sample-ratio test counts every assignment, the metrics only humans.
with assignments as (
    select
        *,
        {{ seoul_date('assigned_at') }} as assigned_date
    from {{ ref('stg_firestore__experiment_assignments') }}
),

users as (
    select * from {{ ref('dim_users') }}
),

last_loaded as (
    select max(loaded_date) as last_loaded_date
    from {{ ref('int_loaded_days') }}
),

outcomes as (
    select
        experiment_id,
        user_id,
        -- BIGINT: DuckDB sums integers to HUGEINT otherwise
        {% for measure in ['purchases', 'meetings_created', 'clicks', 'impressions'] -%}
            cast(
                sum(case when days_since_assignment >= 0 then {{ measure }} else 0 end)
                as {{ dbt.type_bigint() }}
            ) as {{ measure }},
            cast(
                sum(case when days_since_assignment < 0 then {{ measure }} else 0 end)
                as {{ dbt.type_bigint() }}
            ) as pre_{{ measure }},
        {% endfor -%}
        sum(case when days_since_assignment >= 0 then revenue else 0 end) as revenue,
        sum(case when days_since_assignment < 0 then revenue else 0 end) as pre_revenue,
        count(case when days_since_assignment >= 0 then 1 end) as active_days,
        count(case when days_since_assignment < 0 then 1 end) as pre_active_days,
        count(case when days_since_assignment = 7 then 1 end) > 0 as was_active_day_7
    from {{ ref('ab_test_variant_user_daily') }}
    group by experiment_id, user_id
),

final as (
    select
        assignments.experiment_id,
        assignments.variant_id,
        assignments.user_id,
        assignments.assigned_at,
        assignments.assigned_date,
        coalesce(users.is_bot, false) as is_bot,
        {{ days_between('assignments.assigned_date', 'last_loaded.last_loaded_date') }} + 1
            as observed_days,
        coalesce(outcomes.purchases, 0) as purchases,
        coalesce(outcomes.revenue, 0) as revenue,
        coalesce(outcomes.purchases, 0) > 0 as is_converted,
        coalesce(outcomes.active_days, 0) as active_days,
        coalesce(outcomes.meetings_created, 0) as meetings_created,
        coalesce(outcomes.clicks, 0) as recommendation_clicks,
        coalesce(outcomes.impressions, 0) as recommendation_impressions,
        -- day 7 not loaded yet: unknown, not lost
        case
            when {{ add_days('assignments.assigned_date', 7) }} <= last_loaded.last_loaded_date
                then coalesce(outcomes.was_active_day_7, false)
        end as is_retained_d7,
        coalesce(outcomes.pre_purchases, 0) as pre_purchases,
        coalesce(outcomes.pre_revenue, 0) as pre_revenue,
        coalesce(outcomes.pre_active_days, 0) as pre_active_days,
        coalesce(outcomes.pre_meetings_created, 0) as pre_meetings_created,
        coalesce(outcomes.pre_clicks, 0) as pre_recommendation_clicks,
        coalesce(outcomes.pre_impressions, 0) as pre_recommendation_impressions
    from assignments
    cross join last_loaded
    left join users on assignments.user_id = users.user_id
    left join outcomes
        on
            assignments.experiment_id = outcomes.experiment_id
            and assignments.user_id = outcomes.user_id
)

select * from final
