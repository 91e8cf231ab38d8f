"""The daily Slack digest: yesterday's headline metrics against the average of the 7 days before,
with a link to the board.

A schedule ticks every hour of the Asia/Seoul morning. It asks for a digest of yesterday only
once the daily run that ended on yesterday has succeeded (a failed run has its own alert) and
the metric series were refreshed after it, under the run key `digest-<day>`, which Dagster
launches once: the digest is sent once per day, never twice. The numbers are the metrics
asset's series (`metrics.metric_values`), the ones the board shows, so the two never disagree.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
from pydantic import Field

from calback_platform.assets.metrics import METRICS_ASSET
from calback_platform.partitions import TIMEZONE
from calback_platform.schedules import DAILY_JOB, scheduled_yesterday, status
from calback_platform.sensors.slack import SlackNotifier
from calback_platform.warehouse.base import Warehouse

DIGEST_JOB = "daily_digest"
DAY_TAG = "calback/digest_day"
# The metrics of the digest, in order: (metric, label, how its value reads).
# How a value of each format (the metric's meta.format) reads.
SHAPES = {"count": "{:,.0f}", "percent": "{:.1%}", "currency": "{:,.0f}", "ratio": "{:.2f}"}
BASELINE_DAYS = 7


class DigestConfig(dg.Config):
    day: str = Field(description="The day (YYYY-MM-DD, Asia/Seoul) the digest reports.")


@dataclass(frozen=True)
class Headline:
    metric: str
    label: str
    format: str


def digest_text(
    day: date, headlines: list[Headline], series: dict[str, dict[date, float]], board_url: str
) -> str:
    """The digest of `day` from each headline metric's daily values."""
    lines = [f":bar_chart: *Calback, {day:%A %Y-%m-%d}* (vs the {BASELINE_DAYS} days before)"]
    for headline in headlines:
        label, shape = headline.label, SHAPES[headline.format]
        values = series.get(headline.metric, {})
        if day not in values:
            lines.append(f"• {label}: no value")
            continue
        value = values[day]
        before = [values[d] for d in _baseline_days(day) if d in values]
        if len(before) < BASELINE_DAYS:
            change = f"(only {len(before)} earlier days)"
        else:
            average = sum(before) / len(before)
            change = f"({value / average - 1:+.0%} vs {shape.format(average)})" if average else ""
        lines.append(f"• {label}: *{shape.format(value)}* {change}".rstrip())
    lines.append(f"<{board_url}|Open the board>")
    return "\n".join(lines)


def _baseline_days(day: date) -> list[date]:
    return [day - timedelta(days=n) for n in range(1, BASELINE_DAYS + 1)]


def read_headlines(warehouse: Warehouse) -> list[Headline]:
    """The headline metrics, in their order, as the semantic layer defines them."""
    rows = warehouse.query(
        "select metric, label, format from metrics.metric_definitions "
        "where headline is not null order by headline"
    )
    return [Headline(*row) for row in rows]


def read_series(
    warehouse: Warehouse, headlines: list[Headline], day: date
) -> dict[str, dict[date, float]]:
    """The headline metrics' daily values from `day` minus the baseline to `day`."""
    metrics = ", ".join(f"'{headline.metric}'" for headline in headlines)
    first = day - timedelta(days=BASELINE_DAYS)
    rows = warehouse.query(
        "select metric, period_start, value from metrics.metric_values "
        f"where grain = 'day' and dimension is null and metric in ({metrics}) "
        f"and period_start >= cast('{first}' as date) and period_start <= cast('{day}' as date)"
    )
    series: dict[str, dict[date, float]] = {}
    for metric, period_start, value in rows:
        if value is not None:
            series.setdefault(metric, {})[period_start] = float(value)
    return series


def build_digest_job(board_url: str, pool: str | None) -> dg.JobDefinition:
    @dg.op(
        pool=pool,
        # Slack or the warehouse may be briefly away; the run key stops a second digest, so
        # the op itself retries.
        retry_policy=dg.RetryPolicy(max_retries=3, delay=60),
        description="Reads the day's headline metrics and posts the digest to Slack.",
    )
    def post_daily_digest(
        context: dg.OpExecutionContext,
        config: DigestConfig,
        warehouse: Warehouse,
        slack: SlackNotifier,
    ) -> None:
        day = date.fromisoformat(config.day)
        headlines = read_headlines(warehouse)
        text = digest_text(day, headlines, read_series(warehouse, headlines, day), board_url)
        context.log.info(f"Digest of {day}:\n{text}")
        slack.send(text, context.log)

    @dg.job(name=DIGEST_JOB, description="Posts yesterday's headline metrics to Slack.")
    def daily_digest():
        post_daily_digest()

    return daily_digest


def build_digest_schedule(job: dg.JobDefinition, running: bool) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_digest_schedule",
        job=job,
        # Every hour from 03:00: the first tick after the daily run has succeeded sends it.
        cron_schedule="0 3-12 * * *",
        execution_timezone=TIMEZONE,
        default_status=status(running),
        description="Yesterday's digest, once, after the daily run of yesterday succeeded.",
    )
    def daily_digest_schedule(context: dg.ScheduleEvaluationContext):
        day = scheduled_yesterday(context).isoformat()
        runs = context.instance.get_runs(
            filters=dg.RunsFilter(
                job_name=DAILY_JOB, tags={"dagster/asset_partition_range_end": day}
            ),
            limit=1,
        )
        if not runs or runs[0].status != dg.DagsterRunStatus.SUCCESS:
            state = runs[0].status.value if runs else "not started"
            return dg.SkipReason(f"The daily run of {day} has not succeeded ({state}).")
        ended = context.instance.get_run_record_by_id(runs[0].run_id).end_time or 0
        refreshed = context.instance.get_latest_materialization_event(METRICS_ASSET)
        if not refreshed or refreshed.timestamp < ended:
            return dg.SkipReason(f"The metrics are not refreshed since the daily run of {day}.")
        if context.instance.get_runs(filters=dg.RunsFilter(job_name=job.name, tags={DAY_TAG: day})):
            return dg.SkipReason(f"The digest of {day} was already asked for.")
        return dg.RunRequest(
            run_key=f"digest-{day}",
            run_config={"ops": {"post_daily_digest": {"config": {"day": day}}}},
            tags={DAY_TAG: day},
        )

    return daily_digest_schedule
