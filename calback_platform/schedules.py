"""The schedules: at 02:00 Asia/Seoul, rebuild yesterday plus GA4's 3-day look-back; later in
the night, the instance's own upkeep."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from calback_platform.partitions import TIMEZONE

# The daily job (definitions.py assembles it) and the schedule that runs it; `calback health`
# looks their runs up by these names.
DAILY_JOB = "materialize_everything"
DAILY_SCHEDULE = "daily_refresh"
# GA4 rewrites a day's export for up to 72 hours after it ends (docs/architecture.md §3.2).
GA4_LOOKBACK_DAYS = 3


def status(running: bool) -> dg.DefaultScheduleStatus:
    """Prod schedules run from the start; locally they wait for a click."""
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


def nightly_schedule(
    job: dg.JobDefinition, cron: str, running: bool, description: str
) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=f"{job.name}_daily",
        job=job,
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        default_status=status(running),
        description=description,
    )


def scheduled_yesterday(context: dg.ScheduleEvaluationContext) -> date:
    """The Asia/Seoul day before the tick's scheduled time."""
    now = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE))
    return (now - timedelta(days=1)).date()


def build_daily_schedule(job: dg.UnresolvedAssetJobDefinition, partitions_def, running: bool):
    @dg.schedule(
        name=DAILY_SCHEDULE,
        job=job,
        cron_schedule="0 2 * * *",
        execution_timezone=TIMEZONE,
        default_status=status(running),
        description="Yesterday and the 3 days before it (GA4 late data), as one run.",
    )
    def daily_refresh(context: dg.ScheduleEvaluationContext):
        yesterday = scheduled_yesterday(context)
        first = yesterday - timedelta(days=GA4_LOOKBACK_DAYS)
        keys = partitions_def.get_partition_keys()
        wanted = [k for k in keys if first.isoformat() <= k <= yesterday.isoformat()]
        if not wanted:
            return dg.SkipReason(
                f"No daily partitions from {first} to {yesterday}: the source ends at {keys[-1]}"
                if keys
                else "The daily partitions definition is empty."
            )
        return dg.RunRequest(
            run_key=f"daily-{yesterday}",
            tags={
                "dagster/asset_partition_range_start": wanted[0],
                "dagster/asset_partition_range_end": wanted[-1],
            },
        )

    return daily_refresh
