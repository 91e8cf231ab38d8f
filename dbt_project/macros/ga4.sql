{#- One GA4 event parameter by key. BigQuery: the correlated unnest; DuckDB: the same lookup as a
    vectorised list filter, many times faster than a correlated subquery there. -#}
{% macro ga4_param(key, value_type='string_value') -%}
    {{ return(adapter.dispatch('ga4_param', 'calback')(key, value_type)) }}
{%- endmacro %}
{% macro default__ga4_param(key, value_type) -%}
    list_filter(event_params, lambda ep: ep.key = '{{ key }}')[1].value.{{ value_type }}
{%- endmacro %}
{% macro bigquery__ga4_param(key, value_type) -%}
    (select ep.value.{{ value_type }} from unnest(event_params) as ep where ep.key = '{{ key }}' limit 1)
{%- endmacro %}
