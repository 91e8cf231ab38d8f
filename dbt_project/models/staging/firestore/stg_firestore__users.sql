with source as (
    select * from {{ ref('base_firestore__users_latest') }}
),

final as (
    select
        document_id as user_id,
        {{ json_string('data', 'platform') }} as platform,
        {{ hash_pii(json_string('data', 'email')) }} as email_sha256,
        {{ firestore_timestamp('data', 'createdAt') }} as created_at,
        {{ firestore_timestamp('data', 'lastLoginAt') }} as last_login_at,
        coalesce({{ firestore_boolean('data', 'isPremium') }}, false) as is_premium,
        {{ firestore_timestamp('data', 'premiumSince') }} as premium_since_at,
        coalesce({{ firestore_boolean('data', 'marketingConsent') }}, false) as has_marketing_consent,
        {{ json_string('data', 'referrerUid') }} as referrer_user_id,
        changed_at
    from source
)

select * from final
