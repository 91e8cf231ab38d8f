{{ config(materialized='table') }}
-- Every typed field of a live Firestore document that holds a value no Firebase encoding
-- parses (a "timestamp" that is no timestamp): the document, the field and the value as it
-- is. The staging column is NULL for it; this is where the value is kept and counted. A table:
-- it reads every collection whole, once a run, not once per reader.
{%- set collections = ['users', 'meetings', 'experiment_assignments'] %}

-- noqa: disable=LT02
with
{% for collection in collections %}
{{ collection }} as (
    select * from {{ ref('base_firestore__' ~ collection ~ '_latest') }}
),
{% endfor %}

final as (
{% for collection in collections %}
{% set outer = loop %}
{% for name, path, type in firestore_fields(collection) %}
    select
        '{{ collection }}' as collection,
        document_id,
        '{{ path }}' as field,
        '{{ type }}' as expected_type,
        {{ json_text('data', path) }} as raw_value
    from {{ collection }}
    where {{ json_has_value('data', path) }} and {{ firestore_value('data', path, type) }} is null
    {% if not (outer.last and loop.last) %}union all{% endif %}
{% endfor %}
{% endfor %}
)
-- noqa: enable=LT02

select * from final
