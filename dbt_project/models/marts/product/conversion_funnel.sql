-- The onboarding-to-purchase funnel by sign-up ISO week. A step counts for a user only when it
-- happens at or after the user's previous step (first occurrence after it).
{%- set steps = ['onboarding_start', 'onboarding_complete', 'meeting_create', 'invite_send',
                 'meeting_confirm', 'purchase'] %}

with step_events as (
    select
        visitor_id as user_id,
        -- Web purchases and in-app purchases are one step.
        case when is_revenue_event then 'purchase' else event_name end as event_name,
        event_at
    from {{ ref('int_events') }}
    where
        not is_bot and visitor_id is not null
        and (is_revenue_event or event_name in ('{{ steps | join("', '") }}'))  -- noqa: LT05
),

humans as (
    select * from step_events
),

-- noqa: disable=LT02
{% for step in steps %}
step_{{ loop.index }} as (
    select
        humans.user_id,
        min(humans.event_at) as reached_at
    from humans
    {%- if not loop.first %}
    inner join step_{{ loop.index - 1 }} as previous
        on humans.user_id = previous.user_id and humans.event_at >= previous.reached_at
    {%- endif %}
    where humans.event_name = '{{ step }}'
    group by humans.user_id
),
{% endfor %}
-- noqa: enable=LT02

cohorts as (
    select
        step_1.user_id,
        coalesce(profiles.signup_week, {{ iso_week_start(seoul_date('step_1.reached_at')) }})
            as cohort_week
    from step_1
    left join {{ ref('dim_users') }} as profiles on step_1.user_id = profiles.user_id
),

reached as (
    {% for step in steps -%}
        select
            cohorts.cohort_week,
            cast({{ loop.index }} as {{ dbt.type_bigint() }}) as step_number,
            '{{ step }}' as step_name,
            {{ 'true' if step in var('key_events') else 'false' }} as is_key_event,
            count(step_{{ loop.index }}.user_id) as users  -- noqa: RF04
        from cohorts
        left join step_{{ loop.index }} on cohorts.user_id = step_{{ loop.index }}.user_id
        group by cohorts.cohort_week
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        cohort_week,
        step_number,
        step_name,
        is_key_event,
        users,
        users * 1.0 / nullif(
            lag(users) over (partition by cohort_week order by step_number), 0
        ) as conversion_from_previous,
        users * 1.0 / nullif(
            first_value(users) over (partition by cohort_week order by step_number), 0
        ) as conversion_from_start
    from reached
)

select * from final
