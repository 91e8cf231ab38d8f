with source as (
    select * from {{ ref('base_firestore__meetings_latest') }}
),

final as (
    select
        document_id as meeting_id,
        {{ json_string('data', 'hostUid') }} as host_user_id,
        {{ json_string('data', 'category') }} as category,
        {{ json_string('data', 'status') }} as status,
        {{ json_array_length('data', 'participantUids') }} as participant_count,
        {{ json_array_length('data', 'candidateSlots') }} as candidate_slot_count,
        {{ firestore_typed_columns('meetings') }}
    from source
)

select * from final
