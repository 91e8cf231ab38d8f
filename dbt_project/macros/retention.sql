{#- The final select of a retention mart: every cohort (CTE `cohorts`) with every offset of
    `offsets` that the data reaches, joined to the CTE `retained` on `key`. cohort_week (ISO,
    Monday) lets dashboards roll days up: sum(retained_users) / sum(cohort_size). -#}
{% macro retention_rates(offsets, key, reach_column) -%}
    select
        cohorts.cohort_date,
        cohorts.cohort_week,
        {{ offsets }}.*,
        cohorts.cohort_size,
        coalesce(retained.retained_users, 0) as retained_users,
        coalesce(retained.retained_users, 0) * 1.0 / cohorts.cohort_size as retention_rate
    from cohorts
    cross join {{ offsets }}
    left join retained
        on
            cohorts.cohort_date = retained.cohort_date
            and {{ offsets }}.{{ key }} = retained.{{ key }}
    where {{ offsets }}.{{ reach_column }} <= cohorts.observed_days
{%- endmacro %}
