-- Visitors whose traffic is not human: too many events on a day, or too fast on a busy day.
-- Thresholds are the vars bot_daily_events, bot_events_per_minute and bot_rate_min_events.
with visitor_days as (
    select
        devices.visitor_id,
        events.event_date,
        count(*) as event_count,
        min(events.event_at) as first_event_at,
        max(events.event_at) as last_event_at
    from {{ ref('fct_events') }} as events
    inner join {{ ref('dim_user_devices') }} as devices
        on events.user_pseudo_id = devices.user_pseudo_id
    group by devices.visitor_id, events.event_date
),

rates as (
    select
        visitor_id,
        event_count,
        event_count * 60.0 / greatest(
            {{ dbt.datediff('first_event_at', 'last_event_at', 'second') }}, 60
        ) as events_per_minute
    from visitor_days
),

per_visitor as (
    select
        visitor_id,
        max(event_count) as max_daily_events,
        max(
            case when event_count >= {{ var('bot_rate_min_events') }} then events_per_minute end
        ) as max_events_per_minute
    from rates
    group by visitor_id
),

final as (
    select
        visitor_id,
        max_daily_events,
        max_events_per_minute
    from per_visitor
    where
        max_daily_events >= {{ var('bot_daily_events') }}
        or max_events_per_minute >= {{ var('bot_events_per_minute') }}
)

select * from final
