-- One row per Asia/Seoul day: the figures a dashboard or a daily Slack digest reads.
with days as (
    select * from {{ ref('active_users_daily') }}
),

signups as (
    select
        signup_date,
        count(*) as new_users
    from {{ ref('dim_users') }}
    where not is_bot
    group by signup_date
),

meetings as (
    select
        created_date,
        count(*) as meetings_created
    from {{ ref('fct_meetings') }}
    group by created_date
),

confirmations as (
    select
        events.event_date,
        count(distinct events.meeting_id) as meetings_confirmed
    from {{ ref('fct_events') }} as events
    inner join {{ ref('dim_user_devices') }} as devices
        on events.user_pseudo_id = devices.user_pseudo_id
    left join {{ ref('int_bot_users') }} as bots on devices.stitched_user_id = bots.user_id
    where events.event_name = 'meeting_confirm' and bots.user_id is null
    group by events.event_date
),

purchases as (
    select
        activity_date,
        sum(purchase_count) as purchases,
        sum(revenue_krw) as revenue_krw
    from {{ ref('int_active_user_days') }}
    group by activity_date
),

final as (
    select
        days.activity_date,
        coalesce(signups.new_users, 0) as new_users,
        days.dau,
        coalesce(meetings.meetings_created, 0) as meetings_created,
        coalesce(confirmations.meetings_confirmed, 0) as meetings_confirmed,
        coalesce(purchases.purchases, 0) as purchases,
        coalesce(purchases.revenue_krw, 0) as revenue_krw
    from days
    left join signups on days.activity_date = signups.signup_date
    left join meetings on days.activity_date = meetings.created_date
    left join confirmations on days.activity_date = confirmations.event_date
    left join purchases on days.activity_date = purchases.activity_date
)

select * from final
