-- Users whose traffic is not human: too many events on a day, or too fast on a busy day.
-- Thresholds are the vars bot_daily_events, bot_events_per_minute and bot_rate_min_events.
with user_days as (
    select
        user_id,
        event_count,
        event_count * 60.0 / greatest(
            {{ dbt.datediff('first_event_at', 'last_event_at', 'second') }}, 60
        ) as events_per_minute
    from {{ ref('int_user_activity_daily') }}
),

per_user as (
    select
        user_id,
        max(event_count) as max_daily_events,
        max(
            case when event_count >= {{ var('bot_rate_min_events') }} then events_per_minute end
        ) as max_events_per_minute
    from user_days
    group by user_id
),

final as (
    select
        user_id,
        max_daily_events,
        max_events_per_minute
    from per_user
    where
        max_daily_events >= {{ var('bot_daily_events') }}
        or max_events_per_minute >= {{ var('bot_events_per_minute') }}
)

select * from final
