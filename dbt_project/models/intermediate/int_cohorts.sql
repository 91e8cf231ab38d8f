-- Sign-up cohorts of human users, with how many days after sign-up the loaded data reaches
-- (to the last loaded day, active or not).
with users as (
    select * from {{ ref('dim_users') }}
),

data_end as (
    select max(loaded_date) as last_date from {{ ref('int_loaded_days') }}
),

final as (
    select
        users.signup_date as cohort_date,
        {{ iso_week_start('users.signup_date') }} as cohort_week,
        count(*) as cohort_size,
        max({{ days_between('users.signup_date', 'data_end.last_date') }}) as observed_days
    from users
    cross join data_end
    where not users.is_bot and users.signup_date is not null
    group by users.signup_date
)

select * from final
