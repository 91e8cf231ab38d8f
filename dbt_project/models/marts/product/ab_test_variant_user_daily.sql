-- The A/B summary grain: one row per experiment, human user and Asia/Seoul day the user was
-- active on or after assignment, with what the user saw, clicked and bought that day.
with assignments as (
    select * from {{ ref('stg_firestore__experiment_assignments') }}
),

users as (
    select * from {{ ref('dim_users') }}
    where not is_bot
),

daily as (
    select
        visitor_id as user_id,
        event_date as activity_date,
        count(
            distinct case when event_name = 'recommendation_impression' then item_id end
        ) as impressions,
        count(case when event_name = 'recommendation_click' then 1 end) as clicks,
        count(case when is_revenue_event then 1 end) as purchases,
        coalesce(sum(revenue), 0) as revenue
    from {{ ref('int_events') }}
    where is_active_event and visitor_id is not null
    group by visitor_id, event_date
),

final as (
    select
        assignments.experiment_id,
        assignments.variant_id,
        assignments.user_id,
        daily.activity_date,
        daily.impressions,
        daily.clicks,
        daily.purchases,
        daily.revenue,
        users.platform,
        users.signup_week as signup_cohort_week
    from assignments
    inner join users on assignments.user_id = users.user_id
    inner join daily
        on
            assignments.user_id = daily.user_id
            and daily.activity_date >= {{ seoul_date('assignments.assigned_at') }}
)

select * from final
