-- One row per ISO week (Monday) of loaded days: the week's KPIs (daily_kpis) and acquisition
-- (acquisition_daily) as the team reads them, also written back to a Google sheet.
with days as (
    select * from {{ ref('daily_kpis') }}
),

acquisition as (
    select * from {{ ref('acquisition_daily') }}
),

-- DuckDB sums integers as HUGEINT; the contract's int64 is BIGINT there.
kpis as (
    select
        {{ iso_week_start('activity_date') }} as week_start,
        count(*) as loaded_days,
        cast(sum(new_users) as {{ dbt.type_bigint() }}) as new_users,
        avg(dau) as average_dau,
        cast(sum(meetings_created) as {{ dbt.type_bigint() }}) as meetings_created,
        cast(sum(meetings_confirmed) as {{ dbt.type_bigint() }}) as meetings_confirmed,
        cast(sum(purchases) as {{ dbt.type_bigint() }}) as purchases,
        sum(revenue) as revenue
    from days
    group by {{ iso_week_start('activity_date') }}
),

-- Each channel's week; a channel is paid that week when it has spend.
channel_weeks as (
    select
        {{ iso_week_start('activity_date') }} as week_start,
        default_channel_group,
        sum(sessions) as sessions,
        sum(engaged_sessions) as engaged_sessions,
        sum(revenue) as revenue,
        sum(spend) as spend
    from acquisition
    group by {{ iso_week_start('activity_date') }}, default_channel_group
),

traffic as (
    select
        week_start,
        cast(sum(sessions) as {{ dbt.type_bigint() }}) as sessions,
        cast(sum(engaged_sessions) as {{ dbt.type_bigint() }}) as engaged_sessions,
        sum(spend) as spend,
        sum(case when spend > 0 then revenue else 0 end) as paid_revenue
    from channel_weeks
    group by week_start
),

final as (
    select
        kpis.week_start,
        kpis.loaded_days,
        kpis.new_users,
        kpis.average_dau,
        kpis.meetings_created,
        kpis.meetings_confirmed,
        kpis.purchases,
        kpis.revenue,
        coalesce(traffic.sessions, 0) as sessions,
        coalesce(traffic.engaged_sessions, 0) as engaged_sessions,
        coalesce(traffic.spend, 0) as spend,
        traffic.spend / nullif(kpis.new_users, 0) as cac_per_new_user,
        traffic.paid_revenue / nullif(traffic.spend, 0) as paid_roas
    from kpis
    left join traffic on kpis.week_start = traffic.week_start
)

select * from final
