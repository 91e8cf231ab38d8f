"""The daily partitions (Asia/Seoul) and the window helpers every partitioned asset uses."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from calback_platform.settings import Settings, dbt_project_yml

# The platform's timezone (Asia/Seoul), dbt_project.yml's var calback_timezone: the days of
# Dagster's partitions and schedules are the days dbt's SQL computes.
TIMEZONE: str = dbt_project_yml()["vars"]["calback_timezone"]


def seoul_datetime(day: date | None = None, hour: int = 0) -> datetime:
    """Now in Asia/Seoul, or that day's `hour` o'clock there."""
    zone = ZoneInfo(TIMEZONE)
    if day is None:
        return datetime.now(zone)
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone)


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(
        start_date=settings.start_date.isoformat(),
        end_date=settings.end_date.isoformat() if settings.end_date else None,
        timezone=TIMEZONE,
    )


def window_dates(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The run's partition window as Seoul days [start, end): one day, or a backfill's range."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def window_days(context: dg.AssetExecutionContext) -> list[date]:
    start, end = window_dates(context)
    return [start + timedelta(days=n) for n in range((end - start).days)]


def run_partition_range(tags: dict[str, str]) -> tuple[str, str] | None:
    """First and last partition key a run was launched for (one partition or a single-run
    range), or None for an unpartitioned run."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"], tags["dagster/partition"]
    first = tags.get("dagster/asset_partition_range_start")
    return (first, tags["dagster/asset_partition_range_end"]) if first else None
