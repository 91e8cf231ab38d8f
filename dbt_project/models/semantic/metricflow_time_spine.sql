-- The calendar MetricFlow needs (period grains, offset windows, filling empty days): one row per
-- day. dbt.date_spine renders on DuckDB and BigQuery alike.
with days as (
    {{ dbt.date_spine("day", "cast('2020-01-01' as date)", "cast('2036-01-01' as date)") }}
)

select cast(date_day as date) as date_day
from days
