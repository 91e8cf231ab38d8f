with source as (
    select * from {{ ref('base_firestore__experiment_assignments_latest') }}
),

final as (
    select
        document_id as assignment_id,
        {{ json_string('data', 'uid') }} as user_id,
        {{ json_string('data', 'experimentId') }} as experiment_id,
        {{ json_string('data', 'variant') }} as variant_id,
        {{ firestore_typed_columns('experiment_assignments') }}
    from source
)

select * from final
