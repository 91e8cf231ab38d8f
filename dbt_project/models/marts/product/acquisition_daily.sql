-- Day x default channel group: what each channel brought (sessions of human visitors, credited
-- by last non-direct click, see fct_sessions) and what it cost (the ad-spend sheet), with CAC
-- and ROAS. A channel with spend but no session, or sessions but no spend, still has its row.
with sessions as (
    select * from {{ ref('fct_sessions') }}
),

devices as (
    select * from {{ ref('dim_user_devices') }}
),

bots as (
    select * from {{ ref('int_bot_users') }}
),

human_sessions as (
    select
        sessions.*,
        devices.visitor_id
    from sessions
    inner join devices on sessions.user_pseudo_id = devices.user_pseudo_id
    left join bots on devices.visitor_id = bots.visitor_id
    where bots.visitor_id is null
),

-- The session of each visitor's first revenue event: where a paying user was won.
first_purchases as (
    select
        human_sessions.session_date,
        human_sessions.default_channel_group
    from human_sessions
    where human_sessions.purchase_count > 0
    qualify row_number() over (
        partition by human_sessions.visitor_id order by human_sessions.session_started_at
    ) = 1
),

traffic as (
    select
        session_date as activity_date,
        default_channel_group,
        count(*) as sessions,
        count(case when is_engaged then 1 end) as engaged_sessions,
        count(case when session_number = 1 then 1 end) as new_users,
        -- DuckDB sums integers as HUGEINT; the contract's int64 is BIGINT there.
        cast(sum(key_event_count) as {{ dbt.type_bigint() }}) as key_events,
        cast(sum(purchase_count) as {{ dbt.type_bigint() }}) as purchases,
        sum(revenue) as revenue
    from human_sessions
    group by session_date, default_channel_group
),

new_payers as (
    select
        session_date as activity_date,
        default_channel_group,
        count(*) as new_paying_users
    from first_purchases
    group by session_date, default_channel_group
),

spend as (
    select
        spend_date as activity_date,
        channel as default_channel_group,
        sum(spend) as spend
    from {{ ref('int_ad_spend') }}
    group by spend_date, channel
),

days_and_channels as (
    select
        activity_date,
        default_channel_group
    from traffic
    union distinct
    select
        activity_date,
        default_channel_group
    from spend
),

-- noqa: disable=LT02

final as (
    select
        days_and_channels.activity_date,
        days_and_channels.default_channel_group,
        coalesce(traffic.sessions, 0) as sessions,
        coalesce(traffic.engaged_sessions, 0) as engaged_sessions,
        coalesce(traffic.new_users, 0) as new_users,
        coalesce(new_payers.new_paying_users, 0) as new_paying_users,
        coalesce(traffic.key_events, 0) as key_events,
        coalesce(traffic.purchases, 0) as purchases,
        coalesce(traffic.revenue, 0) as revenue,
        coalesce(spend.spend, 0) as spend,
        spend.spend / nullif(traffic.new_users, 0) as cac_per_new_user,
        spend.spend / nullif(new_payers.new_paying_users, 0) as cac_per_new_paying_user,
        coalesce(traffic.revenue, 0) / nullif(spend.spend, 0) as roas
    from days_and_channels
    {%- for relation in ['traffic', 'new_payers', 'spend'] %}
    left join {{ relation }}
        on
            days_and_channels.activity_date = {{ relation }}.activity_date
            and days_and_channels.default_channel_group = {{ relation }}.default_channel_group
    {%- endfor %}
)
-- noqa: enable=LT02

select * from final
