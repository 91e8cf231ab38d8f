{{ config(
    materialized='incremental',
    incremental_strategy=window_incremental_strategy(),
    meta={'window_column': 'event_date'},
    partition_by=window_partition_by('event_date'),
    partitions=window_partitions(),
    cluster_by=['event_name', 'user_pseudo_id'],
    on_schema_change='append_new_columns',
) }}

with events as (
    select * from {{ ref('stg_ga4__events') }}
    where {{ in_window('event_date') }}
),

rates as (
    select * from {{ ref('int_currency_rates') }}
),

priced as (
    select
        events.*,
        events.event_name in ('{{ var("revenue_events") | join("', '") }}') as is_revenue_event,  -- noqa: LT05
        events.event_name in ('{{ var("key_events") | join("', '") }}') as is_key_event,  -- noqa: LT05
        -- Revenue in the reporting currency: the amount at its currency's rate on the day,
        -- else GA4's USD value at the USD rate; NULL when neither is known.
        case
            when events.currency = '{{ var("reporting_currency") }}' then events.amount
            else coalesce(
                events.amount * own_rate.rate_to_reporting,
                events.amount_usd * usd_rate.rate_to_reporting
            )
        end as amount_in_reporting_currency
    from events
    left join rates as own_rate
        on {{ rate_on_day('own_rate', 'events.currency', 'events.event_date') }}
    left join rates as usd_rate
        on {{ rate_on_day('usd_rate', "'USD'", 'events.event_date') }}
),

final as (
    select
        event_id,
        event_date,
        event_at,
        event_name,
        user_pseudo_id,
        is_cookieless,
        user_id,
        platform,
        stream_id,
        device_category,
        operating_system,
        country,
        ga_session_id,
        ga_session_number,
        engagement_time_msec,
        is_session_engaged,
        meeting_id,
        item_id,
        screen_name,
        first_touch_source,
        first_touch_medium,
        first_touch_campaign,
        event_source,
        event_medium,
        event_campaign,
        gclid,
        session_source,
        session_medium,
        session_campaign,
        is_key_event,
        is_revenue_event,
        case when is_revenue_event then amount end as revenue_amount,
        case when is_revenue_event then currency end as revenue_currency,
        case when is_revenue_event then amount_usd end as revenue_usd,
        case when is_revenue_event then amount_in_reporting_currency end as revenue,
        is_revenue_event and amount_in_reporting_currency is null as has_unknown_currency,
        transaction_id,
        event_bundle_sequence_id
    from priced
)

select * from final
