{#- Every row of `relation` (columns source, medium, campaign; one row per `key`) with its GA4
    default channel group: the first rule of seed channel_rules, by priority, whose conditions
    its lower-cased values all meet. A rule's empty cells are no condition; its source_category
    is the source's category in seed ga4_source_categories (Google's list). The catch-all rule
    `unassigned` meets every row, so none is lost. -#}
{% macro with_default_channel_group(relation, key) -%}
    select
        {{ relation }}.*,
        channel_rules.channel as default_channel_group
    from {{ relation }}
    left join {{ ref('ga4_source_categories') }} as source_categories
        on lower({{ relation }}.source) = lower(source_categories.source)
    inner join {{ ref('channel_rules') }} as channel_rules
        on
            {{ _channel_condition('channel_rules.source_regex', 'lower(' ~ relation ~ '.source)') }}
            and {{ _channel_condition('channel_rules.medium_regex', 'lower(' ~ relation ~ '.medium)') }}
            and {{ _channel_condition('channel_rules.campaign_regex', 'lower(' ~ relation ~ '.campaign)') }}
            and (
                channel_rules.source_category is null
                or channel_rules.source_category = source_categories.source_category
            )
    -- BigQuery takes QUALIFY only beside a WHERE, GROUP BY or HAVING.
    where true
    qualify row_number() over (
        partition by {{ relation }}.{{ key }} order by channel_rules.priority, channel_rules.rule_id
    ) = 1
{%- endmacro %}

{% macro _channel_condition(pattern, value) -%}
    ({{ pattern }} is null or coalesce({{ regex_contains(value, pattern) }}, false))
{%- endmacro %}
