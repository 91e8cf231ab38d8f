-- The calendar the marts cover: every Asia/Seoul day whose GA4 export has landed, whether or
-- not anyone was active on it.
with events as (
    select * from {{ ref('fct_events') }}
),

final as (
    select distinct event_date as loaded_date
    from events
)

select * from final
