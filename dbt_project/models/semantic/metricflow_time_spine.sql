-- The calendar MetricFlow needs (period grains, offset windows, filling empty days): one row per
-- day.
with days as (
    {{ date_series('2020-01-01', '2035-12-31') }}
)

select date_day
from days
