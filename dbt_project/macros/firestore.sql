{#- A Firestore timestamp field ({"_seconds", "_nanoseconds"}, DESIGN 4.1) as a UTC timestamp;
    NULL when the field is missing or of another type. -#}
{% macro firestore_timestamp(column, field) -%}
    {%- set seconds = try_cast_to(json_string(column, field ~ '._seconds'), dbt.type_bigint()) -%}
    {%- set nanos = try_cast_to(json_string(column, field ~ '._nanoseconds'), dbt.type_bigint()) -%}
    {{ timestamp_from_micros(
        'cast(' ~ seconds ~ ' * 1000000 + coalesce(' ~ nanos ~ ', 0) / 1000 as ' ~ dbt.type_bigint() ~ ')'
    ) }}
{%- endmacro %}

{#- A boolean field; NULL when missing or not a boolean. -#}
{% macro firestore_boolean(column, field) -%}
    {{ try_cast_to(json_string(column, field), dbt.type_boolean()) }}
{%- endmacro %}

{#- The newest live version of each document of a changelog source (`*_raw_latest`). -#}
{% macro firestore_latest(source_table) -%}
with changelog as (
    select
        document_name,
        document_id,
        operation,
        data,
        timestamp as changed_at,
        row_number() over (
            partition by document_name order by _loaded_at desc, timestamp desc
        ) as version_rank
    from {{ source('raw_firestore', source_table) }}
),

final as (
    select
        document_name,
        document_id,
        data,
        changed_at
    from changelog
    where version_rank = 1 and operation != 'DELETE'
)

select * from final
{%- endmacro %}
