-- The A/B summary grain: one row per experiment, human user and Asia/Seoul day the user was
-- active, from var cuped_lookback_days before the day of assignment on, with what the user saw,
-- clicked, created and bought that day. Days before assignment (days_since_assignment < 0) are
-- the pre-experiment period CUPED adjusts with; the metrics read the days from assignment on.
with assignments as (
    select
        *,
        {{ seoul_date('assigned_at') }} as assigned_date
    from {{ ref('stg_firestore__experiment_assignments') }}
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
        count(case when event_name = 'meeting_create' then 1 end) as meetings_created,
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
        {{ days_between('assignments.assigned_date', 'daily.activity_date') }}
            as days_since_assignment,
        daily.impressions,
        daily.clicks,
        daily.meetings_created,
        daily.purchases,
        daily.revenue,
        users.platform,
        users.signup_week as signup_cohort_week
    from assignments
    inner join users on assignments.user_id = users.user_id
    inner join daily
        on
            assignments.user_id = daily.user_id
            and daily.activity_date
            >= {{ add_days('assignments.assigned_date', -var('cuped_lookback_days')) }}
)

select * from final
