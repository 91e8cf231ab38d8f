-- Sign-up week x first-touch channel: how many human users each channel won, how many came
-- back on day 7 and day 30 (exact day, as retention_classic), what they have paid to date, and
-- whether that pays back the channel's spend of that week.
with users as (
    select * from {{ ref('dim_users') }}
    where not is_bot and signup_date is not null
),

activity as (
    select * from {{ ref('int_cohort_activity') }}
    where day_number in (7, 30)
),

data_end as (
    select max(loaded_date) as last_date from {{ ref('int_loaded_days') }}
),

revenue as (
    select
        visitor_id,
        sum(revenue) as revenue
    from {{ ref('int_events') }}
    where is_revenue_event
    group by visitor_id
),

spend as (
    select
        {{ iso_week_start('spend_date') }} as signup_week,
        channel as acquisition_channel,
        sum(spend) as spend
    from {{ ref('int_ad_spend') }}
    group by {{ iso_week_start('spend_date') }}, channel
),

user_outcomes as (
    select
        users.signup_week,
        coalesce(users.acquisition_channel, 'Unassigned') as acquisition_channel,
        users.user_id,
        {{ days_between('users.signup_date', 'data_end.last_date') }} as observed_days,
        max(case when activity.day_number = 7 then 1 else 0 end) as is_retained_d7,
        max(case when activity.day_number = 30 then 1 else 0 end) as is_retained_d30,
        coalesce(max(revenue.revenue), 0) as revenue
    from users
    cross join data_end
    left join activity on users.user_id = activity.user_id
    left join revenue on users.user_id = revenue.visitor_id
    group by
        users.signup_week,
        coalesce(users.acquisition_channel, 'Unassigned'),
        users.user_id,
        {{ days_between('users.signup_date', 'data_end.last_date') }}
),

cohorts as (
    select
        signup_week,
        acquisition_channel,
        count(*) as users,  -- noqa: RF04
        count(case when observed_days >= 7 then 1 end) as d7_observed_users,
        sum(case when observed_days >= 7 then is_retained_d7 else 0 end) as d7_retained_users,
        count(case when observed_days >= 30 then 1 end) as d30_observed_users,
        sum(case when observed_days >= 30 then is_retained_d30 else 0 end) as d30_retained_users,
        count(case when revenue > 0 then 1 end) as paying_users,
        sum(revenue) as revenue_to_date
    from user_outcomes
    group by signup_week, acquisition_channel
),

final as (
    select
        cohorts.signup_week,
        cohorts.acquisition_channel,
        cohorts.users,
        cohorts.d7_observed_users,
        cast(cohorts.d7_retained_users as {{ dbt.type_bigint() }}) as d7_retained_users,
        cohorts.d7_retained_users / nullif(cohorts.d7_observed_users, 0) as d7_retention,
        cohorts.d30_observed_users,
        cast(cohorts.d30_retained_users as {{ dbt.type_bigint() }}) as d30_retained_users,
        cohorts.d30_retained_users / nullif(cohorts.d30_observed_users, 0) as d30_retention,
        cohorts.paying_users,
        cohorts.revenue_to_date,
        coalesce(spend.spend, 0) as spend,
        cohorts.revenue_to_date / nullif(spend.spend, 0) as payback_ratio,
        spend.spend is not null and cohorts.revenue_to_date >= spend.spend as is_paid_back
    from cohorts
    left join spend
        on
            cohorts.signup_week = spend.signup_week
            and cohorts.acquisition_channel = spend.acquisition_channel
)

select * from final
