-- The days each human user was active: at least one engaged event (anything but first_open).
with user_days as (
    select * from {{ ref('int_user_activity_daily') }}
),

bots as (
    select * from {{ ref('int_bot_users') }}
),

final as (
    select
        user_days.user_id,
        user_days.activity_date,
        user_days.engaged_event_count,
        user_days.session_start_count,
        user_days.purchase_count,
        user_days.revenue_krw
    from user_days
    left join bots on user_days.user_id = bots.user_id
    where user_days.engaged_event_count > 0 and bots.user_id is null
)

select * from final
