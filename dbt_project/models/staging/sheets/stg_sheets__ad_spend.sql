-- The ad-spend sheet, one row per valid sheet row, as typed by the marketer: a channel, or a
-- source / medium / campaign whose channel the default channel rules give.
with source as (
    select * from {{ source('raw_sheets', 'ad_spend') }}
),

final as (
    select
        sheet_row,
        spend_date,
        nullif(trim(channel), '') as channel,
        nullif(trim(source), '') as source,  -- noqa: RF04
        nullif(trim(medium), '') as medium,
        nullif(trim(campaign), '') as campaign,
        spend,
        currency,
        impressions,
        clicks
    from source
)

select * from final
