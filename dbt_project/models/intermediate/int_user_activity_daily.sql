-- One row per stitched user (user_id, else the device) and Asia/Seoul day with any event.
with events as (
    select * from {{ ref('fct_events') }}
),

devices as (
    select * from {{ ref('dim_user_devices') }}
),

final as (
    select
        devices.stitched_user_id as user_id,
        events.event_date as activity_date,
        count(*) as event_count,
        sum(case when events.event_name != 'first_open' then 1 else 0 end) as engaged_event_count,
        sum(case when events.event_name = 'session_start' then 1 else 0 end) as session_start_count,
        sum(case when events.event_name = 'purchase' then 1 else 0 end) as purchase_count,
        sum(
            case when events.event_name = 'purchase' then coalesce(events.event_value, 0) else 0 end
        ) as revenue_krw,
        min(events.event_at) as first_event_at,
        max(events.event_at) as last_event_at
    from events
    inner join devices on events.user_pseudo_id = devices.user_pseudo_id
    group by devices.stitched_user_id, events.event_date
)

select * from final
