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
    {{ retention_rates('day_numbers', 'day_number', 'day_number') }}
)

select * from final
