-- Classic (exact-day) retention: the share of a cohort active exactly N days after sign-up.
with cohorts as (
    select * from {{ ref('int_cohorts') }}
),

activity as (
    select * from {{ ref('int_cohort_activity') }}
),

day_numbers as (
    {{ integer_series('day_number', 0, 30) }}
),

retained as (
    select
        cohort_date,
        day_number,
        count(distinct user_id) as retained_users
    from activity
    group by cohort_date, day_number
),

final as (
    select
        cohorts.cohort_date,
        day_numbers.day_number,
        cohorts.cohort_size,
        coalesce(retained.retained_users, 0) as retained_users,
        coalesce(retained.retained_users, 0) * 1.0 / cohorts.cohort_size as retention_rate
    from cohorts
    cross join day_numbers
    left join retained
        on
            cohorts.cohort_date = retained.cohort_date
            and day_numbers.day_number = retained.day_number
    where day_numbers.day_number <= cohorts.observed_days
)

select * from final
