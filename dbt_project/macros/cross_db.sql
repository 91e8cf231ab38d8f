{#- Warehouse differences live here as adapter.dispatch pairs; models never branch. -#}

{#- A JSON field as a string: BigQuery json_value vs DuckDB json_extract_string. -#}
{% macro json_string(column, path) -%}
    {{ return(adapter.dispatch('json_string', 'calback')(column, path)) }}
{%- endmacro %}
{% macro default__json_string(column, path) -%}
    json_extract_string({{ column }}, '$.{{ path }}')
{%- endmacro %}
{% macro bigquery__json_string(column, path) -%}
    json_value({{ column }}, '$.{{ path }}')
{%- endmacro %}

{#- Number of elements of a JSON array field (0 when missing or not an array). -#}
{% macro json_array_length(column, path) -%}
    {{ return(adapter.dispatch('json_array_length', 'calback')(column, path)) }}
{%- endmacro %}
{% macro default__json_array_length(column, path) -%}
    coalesce(try_cast(json_array_length({{ column }}, '$.{{ path }}') as bigint), 0)
{%- endmacro %}
{% macro bigquery__json_array_length(column, path) -%}
    coalesce(array_length(json_query_array({{ column }}, '$.{{ path }}')), 0)
{%- endmacro %}

{#- A cast that yields NULL instead of failing: DuckDB try_cast vs BigQuery safe_cast. -#}
{% macro try_cast_to(expression, data_type) -%}
    {{ return(adapter.dispatch('try_cast_to', 'calback')(expression, data_type)) }}
{%- endmacro %}
{% macro default__try_cast_to(expression, data_type) -%}
    try_cast({{ expression }} as {{ data_type }})
{%- endmacro %}
{% macro bigquery__try_cast_to(expression, data_type) -%}
    safe_cast({{ expression }} as {{ data_type }})
{%- endmacro %}

{#- A 64-bit float: DuckDB's FLOAT (dbt.type_float) has 32 bits, exact only to 2^24. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'calback')()) }}
{%- endmacro %}
{% macro default__type_double() -%}
    double
{%- endmacro %}
{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}

{#- UTC timestamp from integer microseconds since the epoch. -#}
{% macro timestamp_from_micros(expression) -%}
    {{ return(adapter.dispatch('timestamp_from_micros', 'calback')(expression)) }}
{%- endmacro %}
{% macro default__timestamp_from_micros(expression) -%}
    make_timestamp({{ expression }})
{%- endmacro %}
{% macro bigquery__timestamp_from_micros(expression) -%}
    timestamp_micros({{ expression }})
{%- endmacro %}

{#- The calendar day, in var calback_timezone (Asia/Seoul), of a UTC timestamp: the platform's
    day (docs/architecture.md §3). -#}
{% macro seoul_date(expression) -%}
    {{ return(adapter.dispatch('seoul_date', 'calback')(expression)) }}
{%- endmacro %}
{% macro default__seoul_date(expression) -%}
    cast(timezone('{{ var("calback_timezone") }}', timezone('UTC', {{ expression }})) as date)
{%- endmacro %}
{% macro bigquery__seoul_date(expression) -%}
    date({{ expression }}, '{{ var("calback_timezone") }}')
{%- endmacro %}

{#- Monday of the ISO week of a date (BigQuery's `week` starts on Sunday, DuckDB's on Monday). -#}
{% macro iso_week_start(expression) -%}
    {{ return(adapter.dispatch('iso_week_start', 'calback')(expression)) }}
{%- endmacro %}
{% macro default__iso_week_start(expression) -%}
    cast(date_trunc('week', {{ expression }}) as date)
{%- endmacro %}
{% macro bigquery__iso_week_start(expression) -%}
    date_trunc({{ expression }}, isoweek)
{%- endmacro %}

{#- A stable key from several columns; NULLs hash as empty strings (BigQuery's concat would
    otherwise turn the whole key NULL). -#}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{#- A date `days` days after (or before, when negative) a date, still a DATE on both warehouses
    (dbt.dateadd turns it into a timestamp or datetime). -#}
{% macro add_days(date_expression, days) -%}
    {{ return(adapter.dispatch('add_days', 'calback')(date_expression, days)) }}
{%- endmacro %}
{% macro default__add_days(date_expression, days) -%}
    cast({{ date_expression }} + to_days(cast({{ days }} as integer)) as date)
{%- endmacro %}
{% macro bigquery__add_days(date_expression, days) -%}
    date_add({{ date_expression }}, interval {{ days }} day)
{%- endmacro %}

{#- Whole days from one date to a later one. -#}
{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between', 'calback')(start_date, end_date)) }}
{%- endmacro %}
{% macro default__days_between(start_date, end_date) -%}
    datediff('day', {{ start_date }}, {{ end_date }})
{%- endmacro %}
{% macro bigquery__days_between(start_date, end_date) -%}
    date_diff({{ end_date }}, {{ start_date }}, day)
{%- endmacro %}

{#- A one-column relation of the integers first..last, as literal rows (portable, no generator);
    BIGINT (INT64), not DuckDB's INTEGER for a literal. -#}
{% macro integer_series(column, first, last) -%}
    {%- for n in range(first, last + 1) %}
    select cast({{ n }} as {{ dbt.type_bigint() }}) as {{ column }}{% if not loop.last %}
    union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- Model contracts use BigQuery's type names (int64, float64, string ...) so one declaration
    holds on both warehouses; DuckDB knows all of them but float64, made here its DOUBLE. -#}
{% macro create_bigquery_type_aliases() -%}
    {%- if target.type == 'duckdb' -%}
        create type if not exists float64 as double
    {%- endif -%}
{%- endmacro %}

{#- Whether a string contains a match of an RE2 pattern (both warehouses use RE2). -#}
{% macro regex_contains(value, pattern) -%}
    {{ return(adapter.dispatch('regex_contains', 'calback')(value, pattern)) }}
{%- endmacro %}
{% macro default__regex_contains(value, pattern) -%}
    regexp_matches({{ value }}, {{ pattern }})
{%- endmacro %}
{% macro bigquery__regex_contains(value, pattern) -%}
    regexp_contains({{ value }}, {{ pattern }})
{%- endmacro %}

{#- One row per day from `first` to `last` (ISO dates, both included), as column date_day; no query
    at compile time (dbt.date_spine runs one, which an offline compile cannot). -#}
{% macro date_series(first, last) -%}
    {{ return(adapter.dispatch('date_series', 'calback')(first, last)) }}
{%- endmacro %}
{% macro default__date_series(first, last) -%}
    select cast(range as date) as date_day
    from range(date '{{ first }}', date '{{ last }}' + interval 1 day, interval 1 day)
{%- endmacro %}
{% macro bigquery__date_series(first, last) -%}
    select date_day
    from unnest(generate_date_array(date '{{ first }}', date '{{ last }}')) as date_day
{%- endmacro %}
