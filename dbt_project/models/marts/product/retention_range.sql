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
            cast({{ first }} as {{ dbt.type_bigint() }}) as range_start,
            cast({{ last }} as {{ dbt.type_bigint() }}) as range_end
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
    {{ retention_rates('day_ranges', 'day_range', 'range_end') }}
)

select * from final
