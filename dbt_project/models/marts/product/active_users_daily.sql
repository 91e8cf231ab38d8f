-- DAU, WAU and MAU for every loaded Asia/Seoul day (zero when nobody was active): distinct
-- human visitors active that day and over the trailing 7 and 28 days ending that day.
with days as (
    select loaded_date as activity_date from {{ ref('int_loaded_days') }}
),

active as (
    select * from {{ ref('int_visitor_days') }}
    where is_active and not is_bot
),

windows as (
    select
        days.activity_date,
        count(distinct case when active.activity_date = days.activity_date then active.visitor_id end)
            as dau,
        count(
            distinct case
                when active.activity_date >= {{ add_days('days.activity_date', -6) }}
                    then active.visitor_id
            end
        ) as wau,
        count(distinct active.visitor_id) as mau
    from days
    left join active
        on
            active.activity_date >= {{ add_days('days.activity_date', -27) }}
            and active.activity_date < {{ add_days('days.activity_date', 1) }}
    group by days.activity_date
),

final as (
    select
        activity_date,
        dau,
        wau,
        mau,
        case when mau > 0 then dau * 1.0 / mau end as stickiness
    from windows
)

select * from final
