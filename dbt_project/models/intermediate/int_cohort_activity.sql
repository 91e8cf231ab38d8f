-- Each human user's sign-up cohort and the day numbers (days since sign-up) they were active on;
-- day 0 is the sign-up day.
with users as (
    select * from {{ ref('dim_users') }}
),

active as (
    select * from {{ ref('int_visitor_days') }}
    where is_active and not is_bot
),

final as (
    select
        users.user_id,
        users.signup_date as cohort_date,
        {{ days_between('users.signup_date', 'active.activity_date') }} as day_number
    from users
    inner join active
        on users.user_id = active.visitor_id and users.signup_date <= active.activity_date
    where not users.is_bot
)

select * from final
