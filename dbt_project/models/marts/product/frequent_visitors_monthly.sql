-- Visit days (int_visitor_days.is_visit_day) per human user and calendar month (Asia/Seoul); a
-- frequent visitor has at least var `frequent_visit_days` of them in the month.
with visits as (
    select
        visitor_id as user_id,
        cast({{ dbt.date_trunc('month', 'activity_date') }} as date) as month,  -- noqa: RF04
        count(*) as visit_days
    from {{ ref('int_visitor_days') }}
    where is_visit_day and not is_bot
    group by visitor_id, cast({{ dbt.date_trunc('month', 'activity_date') }} as date)
),

final as (
    select
        month,
        user_id,
        visit_days,
        visit_days >= {{ var('frequent_visit_days') }} as is_frequent
    from visits
)

select * from final
