{{ config(
    materialized='incremental',
    incremental_strategy=window_incremental_strategy(),
    meta={'window_column': 'session_date'},
    partition_by=window_partition_by('session_date'),
    partitions=window_partitions(),
    cluster_by=['user_pseudo_id'],
    on_schema_change='append_new_columns',
) }}

with events as (
    select * from {{ ref('fct_events') }}
    where {{ in_window('event_date') }} and ga_session_id is not null and not is_cookieless
),

final as (
    select
        {{ surrogate_key(['user_pseudo_id', 'ga_session_id', 'event_date']) }} as session_key,
        {{ surrogate_key(['user_pseudo_id', 'ga_session_id']) }} as session_id,
        event_date as session_date,
        user_pseudo_id,
        max(user_id) as user_id,
        min(ga_session_number) as session_number,
        max(platform) as platform,
        min(event_at) as session_started_at,
        max(event_at) as session_ended_at,
        count(*) as event_count,
        -- DuckDB sums integers as HUGEINT; the contract's int64 is BIGINT there.
        cast(sum(coalesce(engagement_time_msec, 0)) as {{ dbt.type_bigint() }}) as engagement_time_msec,
        count(case when is_revenue_event then 1 end) as purchase_count,
        coalesce(sum(revenue), 0) as revenue
    from events
    group by user_pseudo_id, ga_session_id, event_date
)

select * from final
