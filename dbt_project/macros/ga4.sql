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

{#- A parameter that may arrive as any number type (real exports send `value` as an int on one
    event and a double on another), as a float. -#}
{% macro ga4_number_param(key) -%}
    coalesce(
        {{ ga4_param(key, 'double_value') }},
        {{ ga4_param(key, 'float_value') }},
        cast({{ ga4_param(key, 'int_value') }} as {{ type_double() }})
    )
{%- endmacro %}

{#- A row's columns without the load's own bookkeeping: what the export held. -#}
{% macro exported_columns() -%}
    {{ return(adapter.dispatch('exported_columns', 'calback')()) }}
{%- endmacro %}
{% macro default__exported_columns() -%}
    * exclude (_loaded_at)
{%- endmacro %}
{% macro bigquery__exported_columns() -%}
    * except (_loaded_at)
{%- endmacro %}

{#- A fingerprint of a whole row of `relation` (a CTE or table alias): every field it holds. -#}
{% macro row_fingerprint(relation) -%}
    {{ return(adapter.dispatch('row_fingerprint', 'calback')(relation)) }}
{%- endmacro %}
{% macro default__row_fingerprint(relation) -%}
    md5(cast(to_json({{ relation }}) as varchar))
{%- endmacro %}
{% macro bigquery__row_fingerprint(relation) -%}
    to_hex(md5(to_json_string({{ relation }})))
{%- endmacro %}
