with source as (
    select * from {{ source('raw_ga4', 'events') }}
),

final as (
    select
        {{ surrogate_key([
            'user_pseudo_id', 'event_timestamp', 'event_name', 'event_bundle_sequence_id',
            ga4_param('ga_session_id', 'int_value'),
        ]) }} as event_id,
        export_date as event_date,
        {{ timestamp_from_micros('event_timestamp') }} as event_at,
        event_name,
        user_pseudo_id,
        user_id,
        lower(platform) as platform,
        stream_id,
        traffic_source.source as traffic_source,
        traffic_source.medium as traffic_medium,
        traffic_source.name as traffic_campaign,
        device.category as device_category,
        device.operating_system as operating_system,  -- noqa: AL09
        geo.country as country,  -- noqa: AL09
        {{ ga4_param('ga_session_id', 'int_value') }} as ga_session_id,
        {{ ga4_param('ga_session_number', 'int_value') }} as ga_session_number,
        {{ ga4_param('engagement_time_msec', 'int_value') }} as engagement_time_msec,
        {{ ga4_param('meeting_id') }} as meeting_id,
        {{ ga4_param('item_id') }} as item_id,
        coalesce({{ ga4_param('page_location') }}, {{ ga4_param('firebase_screen') }}) as screen_name,
        coalesce(
            {{ ga4_param('value', 'double_value') }},
            {{ ga4_param('value', 'float_value') }},
            cast({{ ga4_param('value', 'int_value') }} as {{ dbt.type_float() }})
        ) as event_value,
        ecommerce.purchase_revenue as purchase_revenue_krw,
        ecommerce.transaction_id as transaction_id,  -- noqa: AL09
        event_bundle_sequence_id
    from source
)

select * from final
