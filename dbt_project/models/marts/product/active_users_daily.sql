-- DAU, WAU and MAU for each Asia/Seoul day of data: distinct human users active that day and
-- over the trailing 7 and 28 days ending that day.
with active as (
    select * from {{ ref('int_active_user_days') }}
),

days as (
    select distinct activity_date from {{ ref('int_user_activity_daily') }}
),

windows as (
    select
        days.activity_date,
        count(distinct case when active.activity_date = days.activity_date then active.user_id end)
            as dau,
        count(
            distinct case
                when active.activity_date >= {{ add_days('days.activity_date', -6) }}
                    then active.user_id
            end
        ) as wau,
        count(distinct active.user_id) as mau
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
