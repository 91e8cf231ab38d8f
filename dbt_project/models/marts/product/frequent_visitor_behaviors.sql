-- Which behaviours set frequent visitors apart: per month and event, the share of frequent
-- visitors who did it at least once, the same share among other visitors, and their ratio.
with visitors as (
    select * from {{ ref('frequent_visitors_monthly') }}
),

user_events as (
    select distinct
        visitor_id as user_id,
        cast({{ dbt.date_trunc('month', 'event_date') }} as date) as month,  -- noqa: RF04
        event_name
    from {{ ref('int_events') }}
    where visitor_id is not null and not is_bot
),

group_sizes as (
    select
        month,
        sum(case when is_frequent then 1 else 0 end) as frequent_users,
        sum(case when is_frequent then 0 else 1 end) as other_users
    from visitors
    group by month
),

doers as (
    select
        visitors.month,
        user_events.event_name,
        sum(case when visitors.is_frequent then 1 else 0 end) as frequent_doers,
        sum(case when visitors.is_frequent then 0 else 1 end) as other_doers
    from visitors
    inner join user_events
        on visitors.user_id = user_events.user_id and visitors.month = user_events.month
    group by visitors.month, user_events.event_name
),

final as (
    select
        doers.month,
        doers.event_name,
        doers.frequent_doers * 1.0 / nullif(group_sizes.frequent_users, 0) as frequent_users_share,
        doers.other_doers * 1.0 / nullif(group_sizes.other_users, 0) as other_users_share,
        (doers.frequent_doers * 1.0 / nullif(group_sizes.frequent_users, 0))
        / nullif(doers.other_doers * 1.0 / nullif(group_sizes.other_users, 0), 0) as lift
    from doers
    inner join group_sizes on doers.month = group_sizes.month
)

select * from final
