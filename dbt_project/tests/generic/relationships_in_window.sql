{#- dbt's `relationships` for a window table: each value of the window's rows (filter them with
    the `where` config) is in `to` within the same window of `to`'s `window_column`. -#}
{% test relationships_in_window(model, column_name, to, field, window_column) %}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ to }}
    where {{ in_window(window_column) }}
)

select child.from_field
from child
left join parent on child.from_field = parent.to_field
where parent.to_field is null
{% endtest %}
