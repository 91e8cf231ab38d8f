with users as (
    select * from {{ ref('stg_firestore__users') }}
),

signups as (
    select
        user_id,
        first_touch_source,
        first_touch_medium,
        first_touch_campaign,
        row_number() over (partition by user_id order by event_at) as signup_rank
    from {{ ref('fct_events') }}
    where event_name = 'sign_up' and user_id is not null
),

-- Where each user first came from (GA4's first-touch traffic_source of their sign-up), with
-- its default channel group; no known source is direct, as GA4 reports it.
first_touches as (
    select
        user_id,
        coalesce(first_touch_source, '(direct)') as source,  -- noqa: RF04
        case when first_touch_source is null then '(none)' else first_touch_medium end as medium,
        case when first_touch_source is null then '(direct)' else first_touch_campaign end as campaign
    from signups
    where signup_rank = 1
),

first_touch_channels as (
    {{ with_default_channel_group('first_touches', 'user_id') }}
),

bots as (
    select * from {{ ref('int_bot_users') }}
),

devices as (
    select
        visitor_id,
        count(*) as device_count,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from {{ ref('dim_user_devices') }}
    group by visitor_id
),

final as (
    select
        users.user_id,
        users.platform,
        users.created_at as signup_at,
        {{ seoul_date('users.created_at') }} as signup_date,
        {{ iso_week_start(seoul_date('users.created_at')) }} as signup_week,
        users.last_login_at,
        users.is_premium,
        users.premium_since_at,
        users.has_marketing_consent,
        users.referrer_user_id,
        users.email_pseudonym,
        first_touch_channels.source as acquisition_source,
        first_touch_channels.medium as acquisition_medium,
        first_touch_channels.campaign as acquisition_campaign,
        first_touch_channels.default_channel_group as acquisition_channel,
        bots.visitor_id is not null as is_bot,
        coalesce(devices.device_count, 0) as device_count,
        devices.first_seen_at,
        devices.last_seen_at
    from users
    left join first_touch_channels on users.user_id = first_touch_channels.user_id
    left join devices on users.user_id = devices.visitor_id
    left join bots on users.user_id = bots.visitor_id
)

select * from final
