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
        {{ firestore_timestamp('data', 'confirmedSlot.start') }} as confirmed_slot_start_at,
        {{ try_cast_to(json_string('data', 'location._latitude'), dbt.type_float()) }} as location_latitude,
        {{ try_cast_to(json_string('data', 'location._longitude'), dbt.type_float()) }} as location_longitude,
        {{ firestore_timestamp('data', 'createdAt') }} as created_at,
        {{ firestore_timestamp('data', 'updatedAt') }} as updated_at
    from source
)

select * from final
