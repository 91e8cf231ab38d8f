{#- Firestore values as Firebase's tools write them (the extension's JSON encoding, and the ISO
    strings its import script wrote in Nov 2023), parsed to typed values. A value that is there
    but parses to nothing is listed in stg_firestore__unparsable_values, never lost silently. -#}

{#- The typed fields of each collection: (column, path in the document, type). Staging models
    select them, stg_firestore__unparsable_values checks them: one list for both. -#}
{% macro firestore_fields(collection) -%}
    {%- set fields = {
        'users': [
            ('created_at', 'createdAt', 'timestamp'),
            ('last_login_at', 'lastLoginAt', 'timestamp'),
            ('is_premium', 'isPremium', 'boolean'),
            ('premium_since_at', 'premiumSince', 'timestamp'),
            ('has_marketing_consent', 'marketingConsent', 'boolean'),
        ],
        'meetings': [
            ('confirmed_slot_start_at', 'confirmedSlot.start', 'timestamp'),
            ('location_latitude', 'location', 'latitude'),
            ('location_longitude', 'location', 'longitude'),
            ('created_at', 'createdAt', 'timestamp'),
            ('updated_at', 'updatedAt', 'timestamp'),
        ],
        'experiment_assignments': [
            ('assigned_at', 'assignedAt', 'timestamp'),
        ],
    } -%}
    {{ return(fields[collection]) }}
{%- endmacro %}

{#- The typed columns of a collection's fields, as a select list. -#}
{% macro firestore_typed_columns(collection, column='data') -%}
    {%- for name, path, type in firestore_fields(collection) %}
        {{ firestore_value(column, path, type) }} as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro firestore_value(column, path, type) -%}
    {%- if type == 'timestamp' -%}{{ firestore_timestamp(column, path) }}
    {%- elif type == 'boolean' -%}{{ firestore_boolean(column, path) }}
    {%- elif type in ('latitude', 'longitude') -%}{{ firestore_geopoint(column, path, type) }}
    {%- else -%}{{ exceptions.raise_compiler_error('no Firestore type ' ~ type) }}
    {%- endif -%}
{%- endmacro %}

{#- A timestamp: {"_seconds", "_nanoseconds"} (the extension), else an ISO 8601 string (its
    import script, Nov 2023). UTC. -#}
{% macro firestore_timestamp(column, field) -%}
    {%- set seconds = try_cast_to(json_string(column, field ~ '._seconds'), dbt.type_bigint()) -%}
    {%- set nanos = try_cast_to(json_string(column, field ~ '._nanoseconds'), dbt.type_bigint()) -%}
    coalesce(
        {{ timestamp_from_micros(
            'cast(' ~ seconds ~ ' * 1000000 + coalesce(' ~ nanos ~ ', 0) / 1000 as ' ~ dbt.type_bigint() ~ ')'
        ) }},
        {{ iso_timestamp(json_string(column, field)) }}
    )
{%- endmacro %}

{#- An ISO 8601 string with its offset (2022-07-27T16:12:18.149Z) as a UTC timestamp. DuckDB:
    timezone('UTC', ...), not a cast, which would give the session's (the machine's) local time. -#}
{% macro iso_timestamp(expression) -%}
    {{ return(adapter.dispatch('iso_timestamp', 'calback')(expression)) }}
{%- endmacro %}
{% macro default__iso_timestamp(expression) -%}
    timezone('UTC', try_cast({{ expression }} as timestamptz))
{%- endmacro %}
{% macro bigquery__iso_timestamp(expression) -%}
    safe_cast({{ expression }} as timestamp)
{%- endmacro %}

{#- A boolean field. -#}
{% macro firestore_boolean(column, field) -%}
    {{ try_cast_to(json_string(column, field), dbt.type_boolean()) }}
{%- endmacro %}

{#- A geopoint's latitude or longitude: {"_latitude", "_longitude"} (the extension), else
    {"latitude", "longitude"} (the REST API and client SDKs). -#}
{% macro firestore_geopoint(column, field, part) -%}
    coalesce(
        {{ try_cast_to(json_string(column, field ~ '._' ~ part), type_double()) }},
        {{ try_cast_to(json_string(column, field ~ '.' ~ part), type_double()) }}
    )
{%- endmacro %}

{#- Whether a document has a non-null value at a field. -#}
{% macro json_has_value(column, path) -%}
    {{ return(adapter.dispatch('json_has_value', 'calback')(column, path)) }}
{%- endmacro %}
{% macro default__json_has_value(column, path) -%}
    coalesce(json_type({{ column }}, '$.{{ path }}') <> 'NULL', false)
{%- endmacro %}
{% macro bigquery__json_has_value(column, path) -%}
    coalesce(json_query({{ column }}, '$.{{ path }}') != 'null', false)
{%- endmacro %}

{#- A field's value as JSON text, whatever its type. -#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'calback')(column, path)) }}
{%- endmacro %}
{% macro default__json_text(column, path) -%}
    cast(json_extract({{ column }}, '$.{{ path }}') as varchar)
{%- endmacro %}
{% macro bigquery__json_text(column, path) -%}
    json_query({{ column }}, '$.{{ path }}')
{%- endmacro %}

{#- The live documents of a `*_raw_latest` source (the view of each document's latest
    changelog row that the raw_firestore assets keep). -#}
{% macro firestore_latest(source_table) -%}
select
    document_name,
    document_id,
    data,
    timestamp as changed_at
from {{ source('raw_firestore', source_table) }}
where operation != 'DELETE'
{%- endmacro %}
