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

ranked as (
    select
        *,
        row_number() over (partition by event_id order by event_at) as duplicate_rank
    from events
),

final as (
    select
        event_id,
        event_date,
        event_at,
        event_name,
        user_pseudo_id,
        user_id,
        platform,
        stream_id,
        traffic_source,
        traffic_medium,
        traffic_campaign,
        device_category,
        operating_system,
        country,
        ga_session_id,
        ga_session_number,
        engagement_time_msec,
        meeting_id,
        item_id,
        screen_name,
        event_value,
        purchase_revenue_krw,
        transaction_id
    from ranked
    where duplicate_rank = 1
)

select * from final
