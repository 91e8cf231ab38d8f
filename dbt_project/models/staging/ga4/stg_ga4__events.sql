-- The GA4 export renamed and typed, one row per exported event (the raw layer dropped exact
-- duplicate lines; distinct events are never merged). App and web streams alike.
with source as (
    select {{ exported_columns() }} from {{ source('raw_ga4', 'events') }}
),

final as (
    select
        -- Events sent in one batch share their timestamp: web exports tell a device's apart by
        -- batch_page_id / batch_ordering_id / batch_event_index; else (app streams, and
        -- cookieless pings, whose batches no device id tells apart) the whole row does.
        case
            when source.batch_event_index is not null and source.user_pseudo_id is not null
                then {{ surrogate_key([
                    'source.stream_id', 'source.user_pseudo_id', 'source.event_timestamp',
                    'source.event_name', 'source.batch_page_id', 'source.batch_ordering_id',
                    'source.batch_event_index',
                ]) }}
            else {{ row_fingerprint('source') }}
        end as event_id,
        source.export_date as event_date,
        {{ timestamp_from_micros('source.event_timestamp') }} as event_at,
        source.event_name,
        source.user_pseudo_id,
        source.user_pseudo_id is null as is_cookieless,
        source.user_id,
        lower(source.platform) as platform,
        source.stream_id,
        source.device.category as device_category,
        source.device.operating_system,
        source.geo.country,
        {{ ga4_param('ga_session_id', 'int_value') }} as ga_session_id,
        {{ ga4_param('ga_session_number', 'int_value') }} as ga_session_number,
        {{ ga4_param('engagement_time_msec', 'int_value') }} as engagement_time_msec,
        -- GA4 marks a session engaged on its events ('1'; apps may send it as a number).
        coalesce(
            {{ ga4_param('session_engaged') }} = '1',
            {{ ga4_param('session_engaged', 'int_value') }} = 1,
            false
        ) as is_session_engaged,
        {{ ga4_param('meeting_id') }} as meeting_id,
        {{ ga4_param('item_id') }} as item_id,
        coalesce(
            {{ ga4_param('firebase_screen') }},
            {{ ga4_param('firebase_screen_class') }},
            {{ ga4_param('page_location') }}
        ) as screen_name,
        -- Where the user first came from (GA4's first-touch `traffic_source`).
        source.traffic_source.source as first_touch_source,
        source.traffic_source.medium as first_touch_medium,
        source.traffic_source.name as first_touch_campaign,
        -- The campaign this event carried (collected_traffic_source, else its UTM params).
        coalesce(source.collected_traffic_source.manual_source, {{ ga4_param('source') }})
            as event_source,
        coalesce(source.collected_traffic_source.manual_medium, {{ ga4_param('medium') }})
            as event_medium,
        coalesce(
            source.collected_traffic_source.manual_campaign_name, {{ ga4_param('campaign') }}
        ) as event_campaign,
        coalesce(source.collected_traffic_source.gclid, {{ ga4_param('gclid') }}) as gclid,
        -- The session's last-click source as GA4 attributed it (2024 exports on).
        coalesce(
            source.session_traffic_source_last_click.cross_channel_campaign.source,
            source.session_traffic_source_last_click.manual_campaign.source
        ) as session_source,
        coalesce(
            source.session_traffic_source_last_click.cross_channel_campaign.medium,
            source.session_traffic_source_last_click.manual_campaign.medium
        ) as session_medium,
        coalesce(
            source.session_traffic_source_last_click.cross_channel_campaign.campaign_name,
            source.session_traffic_source_last_click.manual_campaign.campaign_name
        ) as session_campaign,
        -- Money as sent: the amount in its own currency, and GA4's conversion to USD.
        coalesce({{ ga4_number_param('value') }}, source.ecommerce.purchase_revenue)
            as amount,
        upper({{ ga4_param('currency') }}) as currency,
        source.event_value_in_usd as amount_usd,
        source.ecommerce.transaction_id,
        source.event_bundle_sequence_id
    from source
)

select * from final
