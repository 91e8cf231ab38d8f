-- Range retention: the share of a cohort active on any day within a range of days after sign-up.
{%- set ranges = [('1', 1, 1), ('2-7', 2, 7), ('8-14', 8, 14), ('15-30', 15, 30)] %}

with cohorts as (
    select * from {{ ref('int_cohorts') }}
),

activity as (
    select * from {{ ref('int_cohort_activity') }}
),

day_ranges as (
    {% for label, first, last in ranges -%}
        select
            '{{ label }}' as day_range,
            {{ first }} as range_start,
            {{ last }} as range_end
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

retained as (
    select
        activity.cohort_date,
        day_ranges.day_range,
        count(distinct activity.user_id) as retained_users
    from activity
    inner join day_ranges
        on
            activity.day_number >= day_ranges.range_start
            and activity.day_number <= day_ranges.range_end
    group by activity.cohort_date, day_ranges.day_range
),

final as (
    select
        cohorts.cohort_date,
        day_ranges.day_range,
        day_ranges.range_start,
        day_ranges.range_end,
        cohorts.cohort_size,
        coalesce(retained.retained_users, 0) as retained_users,
        coalesce(retained.retained_users, 0) * 1.0 / cohorts.cohort_size as retention_rate
    from cohorts
    cross join day_ranges
    left join retained
        on
            cohorts.cohort_date = retained.cohort_date
            and day_ranges.day_range = retained.day_range
    where day_ranges.range_end <= cohorts.observed_days
)

select * from final
