{{ config(materialized='view') }}
-- Each currency's rate to the reporting currency and the days it holds: from valid_from until
-- the next rate of that currency (valid_until exclusive; NULL for the latest). Join it with
-- macro rate_on_day.
with rates as (
    select * from {{ ref('currency_rates') }}
),

final as (
    select
        currency,
        valid_from,
        lead(valid_from) over (partition by currency order by valid_from) as valid_until,
        rate_to_reporting
    from rates
)

select * from final
