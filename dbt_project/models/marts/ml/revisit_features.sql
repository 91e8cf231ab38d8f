-- One row per human user whose first week (days 0 to revisit_feature_days - 1 after sign-up,
-- the sign-up day being day 0) is loaded: what they did in it, the revisit model's features,
-- and its label: whether they became a frequent visitor (at least var frequent_visit_days visit
-- days) in the revisit_label_days days after it. Point in time: a feature reads only the first
-- week's events, an experiment's variant only if assigned in it; NULL label while the label
-- window is not fully loaded.
{%- set feature_days = var('revisit_feature_days') %}
{%- set last_label_day = feature_days + var('revisit_label_days') - 1 %}
{%- set counted_events = {
    'sessions': 'session_start',
    'meetings_created': 'meeting_create',
    'meetings_confirmed': 'meeting_confirm',
    'invites_sent': 'invite_send',
    'invites_accepted': 'invite_accept',
    'votes': 'vote_submit',
    'recommendation_clicks': 'recommendation_click',
} %}
with loaded as (
    select
        min(loaded_date) as first_loaded_date,
        max(loaded_date) as last_loaded_date
    from {{ ref('int_loaded_days') }}
),

-- Whose first week lies inside the loaded calendar: one who signed up before it would have
-- an incomplete week.
users as (
    select
        profiles.user_id,
        profiles.signup_date,
        profiles.platform,
        profiles.acquisition_channel,
        {{ days_between('profiles.signup_date', 'loaded.last_loaded_date') }} as observed_days
    from {{ ref('dim_users') }} as profiles
    cross join loaded
    where
        not profiles.is_bot
        and profiles.signup_date >= loaded.first_loaded_date
        and {{ days_between('profiles.signup_date', 'loaded.last_loaded_date') }}
        >= {{ feature_days - 1 }}
),

first_week_events as (
    select
        events.visitor_id as user_id,
        events.event_name,
        events.engagement_time_msec
    from {{ ref('int_events') }} as events
    inner join users on events.visitor_id = users.user_id
    where
        events.event_date >= users.signup_date
        and events.event_date <= {{ add_days('users.signup_date', feature_days - 1) }}
),

behaviours as (
    select
        user_id,
        {% for feature, event_name in counted_events.items() -%}
            cast(
                sum(case when event_name = '{{ event_name }}' then 1 else 0 end)
                as {{ dbt.type_bigint() }}
            ) as {{ feature }},
        {% endfor -%}
        cast(coalesce(sum(engagement_time_msec), 0) as {{ type_double() }}) / 1000 as engaged_seconds
    from first_week_events
    group by user_id
),

visits as (
    select
        users.user_id,
        {{ days_between('users.signup_date', 'visitor_days.activity_date') }} as days_since_signup
    from {{ ref('int_visitor_days') }} as visitor_days
    inner join users on visitor_days.visitor_id = users.user_id
    where visitor_days.is_visit_day and visitor_days.activity_date >= users.signup_date
),

visit_counts as (
    select
        user_id,
        cast(
            sum(case when days_since_signup between 1 and {{ feature_days - 1 }} then 1 else 0 end)
            as {{ dbt.type_bigint() }}
        ) as return_days_first_week,
        cast(sum(
            case
                when days_since_signup between {{ feature_days }} and {{ last_label_day }}
                    then 1
                else 0
            end
        ) as {{ dbt.type_bigint() }}) as label_window_visit_days
    from visits
    group by user_id
),

first_week_variants as (
    select
        assignments.user_id,
        {{ dbt.listagg(
            "assignments.experiment_id || ':' || assignments.variant_id",
            "','",
            "order by assignments.experiment_id",
        ) }} as experiment_variants
    from {{ ref('stg_firestore__experiment_assignments') }} as assignments
    inner join users on assignments.user_id = users.user_id
    where
        {{ seoul_date('assignments.assigned_at') }}
        <= {{ add_days('users.signup_date', feature_days - 1) }}
    group by assignments.user_id
),

final as (
    select
        users.user_id,
        users.signup_date,
        users.platform,
        coalesce(users.acquisition_channel, '(unknown)') as acquisition_channel,
        {% for feature in counted_events -%}
            coalesce(behaviours.{{ feature }}, 0) as {{ feature }},
        {% endfor -%}
        coalesce(behaviours.engaged_seconds, 0) as engaged_seconds,
        coalesce(visit_counts.return_days_first_week, 0) as return_days_first_week,
        coalesce(first_week_variants.experiment_variants, '') as experiment_variants,
        users.observed_days >= {{ last_label_day }} as is_label_observed,
        coalesce(visit_counts.label_window_visit_days, 0) as label_window_visit_days,
        case
            when users.observed_days >= {{ last_label_day }}
                then
                    coalesce(visit_counts.label_window_visit_days, 0)
                    >= {{ var('frequent_visit_days') }}
        end as became_frequent
    from users
    left join behaviours on users.user_id = behaviours.user_id
    left join visit_counts on users.user_id = visit_counts.user_id
    left join first_week_variants on users.user_id = first_week_variants.user_id
)

select * from final
