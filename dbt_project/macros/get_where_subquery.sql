{#- dbt's `where` test config, with the partition window as placeholders: `__window_start__` and
    `__window_end__` become the run's [min_date, max_date), so a test on a window table checks
    the rows the run wrote, not the whole history, each day. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- set where = where
            | replace('__window_start__', window_start())
            | replace('__window_end__', window_end()) -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
