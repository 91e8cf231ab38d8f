{#- Join condition: the row `rates` (model int_currency_rates) of `currency` valid on `day`. -#}
{% macro rate_on_day(rates, currency, day) -%}
    {{ currency }} = {{ rates }}.currency
    and {{ day }} >= {{ rates }}.valid_from
    and ({{ rates }}.valid_until is null or {{ day }} < {{ rates }}.valid_until)
{%- endmacro %}
