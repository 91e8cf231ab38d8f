{{ config(materialized='view') }}
-- The one event layer every product mart reads: each event with the rules applied once.
-- Who did it (visitor_id: the user a device last logged in as, else the device; NULL for a
-- cookieless ping), whether that visitor is a bot, whether the event is the user doing
-- something (is_active_event), and its revenue in the reporting currency (from fct_events).
-- A view: marts filter it, so the daily run never copies the event history.
with events as (
    select * from {{ ref('fct_events') }}
),

devices as (
    select * from {{ ref('dim_user_devices') }}
),

bots as (
    select * from {{ ref('int_bot_users') }}
),

final as (
    select
        events.event_id,
        events.event_date,
        events.event_at,
        events.event_name,
        devices.visitor_id,
        events.user_pseudo_id,
        events.user_id,
        events.is_cookieless,
        coalesce(devices.is_identified, false) as is_identified,
        bots.visitor_id is not null as is_bot,
        not events.is_cookieless
        and events.event_name not in ('{{ var("passive_events") | join("', '") }}')  -- noqa: LT05
            as is_active_event,
        events.event_name = 'session_start' as is_session_start,
        events.is_revenue_event,
        events.revenue,
        events.has_unknown_currency,
        events.platform,
        events.ga_session_id,
        events.engagement_time_msec,
        events.screen_name,
        events.meeting_id,
        events.item_id,
        events.event_source,
        events.event_medium,
        events.event_campaign,
        events.session_source,
        events.session_medium,
        events.session_campaign,
        events.first_touch_source,
        events.first_touch_medium,
        events.first_touch_campaign
    from events
    left join devices on events.user_pseudo_id = devices.user_pseudo_id
    left join bots on devices.visitor_id = bots.visitor_id
)

select * from final
