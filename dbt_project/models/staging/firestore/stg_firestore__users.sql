with source as (
    select * from {{ ref('base_firestore__users_latest') }}
),

final as (
    select
        document_id as user_id,
        {{ json_string('data', 'platform') }} as platform,
        -- already a keyed hash: the raw changelog holds no personal field in plain
        {{ json_string('data', 'email') }} as email_pseudonym,
        {{ json_string('data', 'referrerUid') }} as referrer_user_id,
        changed_at,
        {{ firestore_typed_columns('users') }}
    from source
)

select * from final
