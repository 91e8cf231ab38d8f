-- One row per loaded Asia/Seoul day: the figures a dashboard or a daily Slack digest reads.
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

events as (
    select
        event_date,
        count(*) as events,
        count(case when is_cookieless then 1 end) as cookieless_events,
        count(
            distinct case
                when event_name = 'meeting_confirm' and not is_bot and not is_cookieless
                    then meeting_id
            end
        ) as meetings_confirmed,
        count(case when is_revenue_event and not is_bot then 1 end) as purchases,
        coalesce(sum(case when not is_bot then revenue end), 0) as revenue
    from {{ ref('int_events') }}
    group by event_date
),

final as (
    select
        days.activity_date,
        coalesce(signups.new_users, 0) as new_users,
        days.dau,
        coalesce(meetings.meetings_created, 0) as meetings_created,
        coalesce(events.meetings_confirmed, 0) as meetings_confirmed,
        coalesce(events.purchases, 0) as purchases,
        coalesce(events.revenue, 0) as revenue,
        coalesce(events.events, 0) as events,
        coalesce(events.cookieless_events, 0) as cookieless_events
    from days
    left join signups on days.activity_date = signups.signup_date
    left join meetings on days.activity_date = meetings.created_date
    left join events on days.activity_date = events.event_date
)

select * from final
