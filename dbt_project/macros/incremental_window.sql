{#- Daily partition windows: Dagster passes [min_date, max_date) as vars. -#}

{% macro window_start() -%}
    cast('{{ var("min_date") }}' as date)
{%- endmacro %}

{% macro window_end() -%}
    cast('{{ var("max_date") }}' as date)
{%- endmacro %}

{#- `column` inside the window, always half-open, never `between`; a model that re-computes the
    days before the window too (meta window_lookback_days) widens it by as many days. -#}
{% macro in_window(column, lookback_days=0) -%}
    {%- if lookback_days -%}
        {{ column }} >= {{ add_days(window_start(), -lookback_days) }} and {{ column }} < {{ window_end() }}
    {%- else -%}
        {{ column }} >= {{ window_start() }} and {{ column }} < {{ window_end() }}
    {%- endif -%}
{%- endmacro %}

{#- The incremental strategy that replaces exactly the window on each warehouse. -#}
{% macro window_incremental_strategy() -%}
    {{ return(adapter.dispatch('window_incremental_strategy', 'calback')()) }}
{%- endmacro %}
{% macro default__window_incremental_strategy() -%}
    {{ return('replace_window') }}
{%- endmacro %}
{% macro bigquery__window_incremental_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}

{#- Custom strategy `replace_window`: delete the window, insert the new rows; dbt runs both in one
    transaction, so a failed run leaves the old window in place. -#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
    {%- set column = config.get('meta', {}).get('window_column') -%}
    {%- if not column %}{{ exceptions.raise_compiler_error(model.name ~ ': replace_window needs meta.window_column') }}{% endif -%}
    {%- set lookback_days = config.get('meta', {}).get('window_lookback_days', 0) -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }} where {{ in_window(column, lookback_days) }};
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }};
{%- endmacro %}

{#- The warehouse partitioning of a window table: BigQuery daily partitions; none elsewhere. -#}
{% macro window_partition_by(column) -%}
    {{ return(adapter.dispatch('window_partition_by', 'calback')(column)) }}
{%- endmacro %}
{% macro default__window_partition_by(column) -%}
    {{ return(none) }}
{%- endmacro %}
{% macro bigquery__window_partition_by(column) -%}
    {{ return({'field': column, 'data_type': 'date', 'granularity': 'day'}) }}
{%- endmacro %}

{#- The window's days as BigQuery's static `partitions` for insert_overwrite, so a run replaces
    exactly those days without first scanning the new rows for their dates (cheaper, and a day
    with no new rows is still emptied). A window longer than ten years is left dynamic. -#}
{% macro window_partitions(lookback_days=0) -%}
    {{ return(adapter.dispatch('window_partitions', 'calback')(lookback_days)) }}
{%- endmacro %}
{% macro default__window_partitions(lookback_days) -%}
    {{ return(none) }}
{%- endmacro %}
{% macro bigquery__window_partitions(lookback_days) -%}
    {%- set start = modules.datetime.date.fromisoformat(var('min_date')) - modules.datetime.timedelta(days=lookback_days) -%}
    {%- set days = (modules.datetime.date.fromisoformat(var('max_date')) - start).days -%}
    {%- if days > 3660 -%}{{ return(none) }}{%- endif -%}
    {%- set partitions = [] -%}
    {%- for offset in range(days) -%}
        {%- set day = start + modules.datetime.timedelta(days=offset) -%}
        {%- do partitions.append("date('" ~ day.isoformat() ~ "')") -%}
    {%- endfor -%}
    {{ return(partitions) }}
{%- endmacro %}
