-- Identity stitching: each device (user_pseudo_id) belongs to the user it last logged in as.
-- Facts keep the device; joining through this table attributes a device's earlier anonymous
-- events to the user retroactively, whatever partition they were loaded in. Cookieless pings
-- (consent mode) have no device and belong to no one.
with events as (
    select * from {{ ref('fct_events') }}
    where not is_cookieless
),

logins as (
    select
        user_pseudo_id,
        user_id,
        row_number() over (partition by user_pseudo_id order by event_at desc) as recency_rank
    from events
    where user_id is not null
),

devices as (
    select
        user_pseudo_id,
        max(platform) as platform,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        count(*) as event_count
    from events
    group by user_pseudo_id
),

final as (
    select
        devices.user_pseudo_id,
        coalesce(logins.user_id, devices.user_pseudo_id) as visitor_id,
        logins.user_id,
        logins.user_id is not null as is_identified,
        devices.platform,
        devices.first_seen_at,
        devices.last_seen_at,
        devices.event_count
    from devices
    left join logins
        on devices.user_pseudo_id = logins.user_pseudo_id and logins.recency_rank = 1
)

select * from final
