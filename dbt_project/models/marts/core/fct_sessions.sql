{{ config(
    materialized='incremental',
    incremental_strategy=window_incremental_strategy(),
    meta={'window_column': 'session_date', 'window_lookback_days': 1},
    partition_by=window_partition_by('session_date'),
    partitions=window_partitions(lookback_days=1),
    cluster_by=['user_pseudo_id'],
    on_schema_change='append_new_columns',
) }}
-- One row per GA4 session, on the day it started. A window re-computes its days and the day
-- before (meta window_lookback_days): a session that ran past midnight into the window is
-- re-computed whole. Events are read from two days before the window (to find where such a
-- session started) to one day after it (a session running past the window's end).

with events as (
    select * from {{ ref('fct_events') }}
    where
        event_date >= {{ add_days(window_start(), -2) }}
        and event_date < {{ add_days(window_end(), 1) }}
        and ga_session_id is not null
        and not is_cookieless
),

-- The first event of each session, a session's landing, and the events that carried campaign
-- data: the landing's tags, a Google Ads click id, or GA4's own last-click attribution.
ranked as (
    select
        *,
        event_name in ('page_view', 'screen_view') as is_view,
        row_number() over (
            partition by stream_id, user_pseudo_id, ga_session_id
            order by event_at, event_id
        ) as event_rank
    from events
),

sessions as (
    select
        stream_id,
        user_pseudo_id,
        ga_session_id,
        min(event_at) as session_started_at,
        max(event_at) as session_ended_at,
        max(user_id) as user_id,
        max(platform) as platform,
        min(ga_session_number) as session_number,
        count(*) as event_count,
        count(case when is_view then 1 end) as view_count,
        -- DuckDB sums integers as HUGEINT; the contract's int64 is BIGINT there.
        cast(sum(coalesce(engagement_time_msec, 0)) as {{ dbt.type_bigint() }}) as engagement_time_msec,
        count(case when is_key_event then 1 end) as key_event_count,
        count(case when is_revenue_event then 1 end) as purchase_count,
        coalesce(sum(revenue), 0) as revenue,
        max(case when is_session_engaged then 1 else 0 end) = 1 as is_marked_engaged
    from ranked
    group by stream_id, user_pseudo_id, ga_session_id
),

landings as (
    select
        stream_id,
        user_pseudo_id,
        ga_session_id,
        screen_name as landing_screen
    from ranked
    where is_view
    qualify row_number() over (
        partition by stream_id, user_pseudo_id, ga_session_id order by event_rank
    ) = 1
),

-- GA4's own session attribution (session_traffic_source_last_click, 2024 exports on).
last_clicks as (
    select
        stream_id,
        user_pseudo_id,
        ga_session_id,
        session_source as source,  -- noqa: RF04
        session_medium as medium,
        session_campaign as campaign
    from ranked
    where session_source is not null or session_medium is not null
    qualify row_number() over (
        partition by stream_id, user_pseudo_id, ga_session_id order by event_rank
    ) = 1
),

-- Each session's own campaign, from its first event that carries one, looked for as far back
-- as the look-back reaches (a direct session takes the device's last one).
campaigns as (
    select
        stream_id,
        user_pseudo_id,
        ga_session_id,
        event_at as campaign_at,
        -- Google Ads auto-tagging sends only a click id: that is google / cpc.
        coalesce(event_source, case when gclid is not null then 'google' end) as source,  -- noqa: RF04
        coalesce(event_medium, case when gclid is not null then 'cpc' end) as medium,
        event_campaign as campaign
    from {{ ref('fct_events') }}
    where
        event_date >= {{ add_days(window_start(), -3 - var('attribution_lookback_days')) }}
        and event_date < {{ add_days(window_end(), 1) }}
        and ga_session_id is not null
        and not is_cookieless
        and (event_source is not null or event_medium is not null or gclid is not null)
    qualify row_number() over (
        partition by stream_id, user_pseudo_id, ga_session_id order by event_at, event_id
    ) = 1
),

window_sessions as (
    select
        sessions.*,
        {{ seoul_date('sessions.session_started_at') }} as session_date
    from sessions
    where {{ in_window(seoul_date('sessions.session_started_at'), lookback_days=1) }}
),

-- A session with no campaign of its own: the device's latest campaign within the look-back.
carried as (
    select
        window_sessions.stream_id,
        window_sessions.user_pseudo_id,
        window_sessions.ga_session_id,
        campaigns.source,
        campaigns.medium,
        campaigns.campaign
    from window_sessions
    inner join campaigns
        on
            window_sessions.stream_id = campaigns.stream_id
            and window_sessions.user_pseudo_id = campaigns.user_pseudo_id
            and window_sessions.session_started_at > campaigns.campaign_at
            and campaigns.campaign_at >= {{ dbt.dateadd(
                'day', -var('attribution_lookback_days'), 'window_sessions.session_started_at'
            ) }}
    qualify row_number() over (
        partition by
            window_sessions.stream_id, window_sessions.user_pseudo_id, window_sessions.ga_session_id
        order by campaigns.campaign_at desc
    ) = 1
),

-- noqa: disable=LT02
attributed as (
    select
        window_sessions.*,
        landings.landing_screen,
        case
            when last_clicks.ga_session_id is not null then 'ga4_last_click'
            when own.ga_session_id is not null then 'session_campaign'
            when carried.ga_session_id is not null then 'last_non_direct'
            else 'direct'
        end as attribution,
        {%- for column, direct in [('source', '(direct)'), ('medium', '(none)'), ('campaign', '(direct)')] %}
        case
            when last_clicks.ga_session_id is not null then last_clicks.{{ column }}
            when own.ga_session_id is not null then own.{{ column }}
            when carried.ga_session_id is not null then carried.{{ column }}
            else '{{ direct }}'
        end as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from window_sessions
    {%- for relation in ['landings', 'last_clicks', 'carried', 'own'] %}
    left join {{ 'campaigns as own' if relation == 'own' else relation }}
        on
            window_sessions.stream_id = {{ relation }}.stream_id
            and window_sessions.user_pseudo_id = {{ relation }}.user_pseudo_id
            and window_sessions.ga_session_id = {{ relation }}.ga_session_id
    {%- endfor %}
),
-- noqa: enable=LT02

keyed as (
    select
        {{ surrogate_key(['stream_id', 'user_pseudo_id', 'ga_session_id']) }} as session_key,
        *
    from attributed
),

channeled as (
    {{ with_default_channel_group('keyed', 'session_key') }}
),

final as (
    select
        session_key,
        session_date,
        stream_id,
        user_pseudo_id,
        ga_session_id,
        user_id,
        session_number,
        platform,
        session_started_at,
        session_ended_at,
        cast(
            {{ dbt.datediff('session_started_at', 'session_ended_at', 'second') }}
            as {{ dbt.type_bigint() }}
        ) as duration_seconds,
        landing_screen,
        event_count,
        view_count,
        engagement_time_msec,
        key_event_count,
        -- GA4: engaged when it says so, or 10 s of engagement, 2 page/screen views, a key event.
        is_marked_engaged
        or engagement_time_msec >= 10000
        or view_count >= 2
        or key_event_count > 0 as is_engaged,
        purchase_count,
        revenue,
        source,
        medium,
        campaign,
        attribution,
        default_channel_group
    from channeled
)

select * from final
