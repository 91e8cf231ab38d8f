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
    {{ retention_rates('day_numbers', 'day_number', 'day_number') }}
)

select * from final
