-- Each valid ad-spend row with its channel (as typed, else the default channel group of its
-- source / medium / campaign) and its spend in the reporting currency at the day's rate.
with spend as (
    select * from {{ ref('stg_sheets__ad_spend') }}
),

channeled as (
    {{ with_default_channel_group('spend', 'sheet_row') }}
),

rates as (
    select * from {{ ref('int_currency_rates') }}
),

final as (
    select
        channeled.sheet_row,
        channeled.spend_date,
        coalesce(channeled.channel, channeled.default_channel_group) as channel,
        channeled.source,
        channeled.medium,
        channeled.campaign,
        channeled.spend as spend_amount,
        channeled.currency as spend_currency,
        channeled.spend * rates.rate_to_reporting as spend,
        channeled.impressions,
        channeled.clicks
    from channeled
    left join rates
        on {{ rate_on_day('rates', 'channeled.currency', 'channeled.spend_date') }}
)

select * from final
