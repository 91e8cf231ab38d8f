with meetings as (
    select * from {{ ref('stg_firestore__meetings') }}
),

final as (
    select
        meeting_id,
        host_user_id,
        category,
        status,
        status = 'confirmed' as is_confirmed,
        participant_count,
        candidate_slot_count,
        location_latitude is not null as has_location,
        created_at,
        {{ seoul_date('created_at') }} as created_date,
        confirmed_slot_start_at,
        updated_at
    from meetings
)

select * from final
