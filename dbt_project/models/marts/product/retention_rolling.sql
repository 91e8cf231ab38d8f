-- Rolling (unbounded) retention: the share of a cohort active on day N or any later day.
with cohorts as (
    select * from {{ ref('int_cohorts') }}
),

last_active as (
    select
        cohort_date,
        user_id,
        max(day_number) as last_day_number
    from {{ ref('int_cohort_activity') }}
    group by cohort_date, user_id
),

day_numbers as (
    {{ integer_series('day_number', 0, 30) }}
),

retained as (
    select
        last_active.cohort_date,
        day_numbers.day_number,
        count(*) as retained_users
    from last_active
    inner join day_numbers on last_active.last_day_number >= day_numbers.day_number
    group by last_active.cohort_date, day_numbers.day_number
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
