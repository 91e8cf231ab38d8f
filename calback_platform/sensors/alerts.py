"""Slack alerts for failed runs and failed ERROR-severity asset checks.

Both sensors walk the runs that ended since a cursor they keep themselves. The cursor moves past
a run only once Slack took its alert, so an outage is retried on the next tick and nothing is
sent twice. A failed check does not fail its run (DESIGN 6), hence a sensor of its own that
reads each finished run's check evaluations.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg

from calback_platform.partitions import TIMEZONE
from calback_platform.resources.slack import SlackDeliveryError, SlackNotifier

BACKFILL_TAG = "dagster/backfill"
WILL_RETRY_TAG = "dagster/will_retry"
ERROR_LINES = 6
RECENT_IDS_KEPT = 500


def partition_text(tags: dict[str, str]) -> str:
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    return f"{start} .. {end}" if start else "none (unpartitioned)"


def _first_lines(text: str, count: int = ERROR_LINES) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return "\n".join(lines[:count]) + ("\n…" if len(lines) > count else "")


def run_failure_text(instance: dg.DagsterInstance, run: dg.DagsterRun, base_url: str) -> str:
    failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    steps = sorted({event.step_key for event in failures if event.step_key})
    errors = [
        event.dagster_event.step_failure_data.error.message
        for event in failures
        if event.dagster_event and event.dagster_event.step_failure_data.error
    ]
    if not errors:
        run_failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        errors = [event.message for event in run_failures if event.message]
    assets = sorted(key.to_user_string() for key in (run.asset_selection or []))
    lines = [
        f":red_circle: *Run failed* — job `{run.job_name}`",
        f"• Partition: {partition_text(run.tags)}",
        f"• Failed steps: {', '.join(steps) or 'none (the run failed before or between steps)'}",
    ]
    if assets:
        lines.append(f"• Assets: {', '.join(assets[:10])}{' …' if len(assets) > 10 else ''}")
    if backfill := run.tags.get(BACKFILL_TAG):
        lines.append(
            f"• Backfill `{backfill}`: further failed runs of it are not alerted one by one: "
            f"{base_url}/runs/b/{backfill}"
        )
    lines.append(f"• Error:\n```{_first_lines(errors[0] if errors else 'no error recorded')}```")
    lines.append(f"<{base_url}/runs/{run.run_id}|Open the run>")
    return "\n".join(lines)


def check_failures_text(
    evaluations: list[dg.AssetCheckEvaluation], run: dg.DagsterRun, base_url: str
) -> str:
    lines = [
        f":warning: *{len(evaluations)} asset check(s) failed* in run of `{run.job_name}`",
        f"• Partition: {partition_text(run.tags)}",
    ]
    for evaluation in evaluations:
        details = [
            f"{key}: {value.value}"
            for key, value in list(evaluation.metadata.items())[:8]
            if not key.startswith("dagster/") and not isinstance(value.value, dict)
        ]
        lines.append(
            f"• `{evaluation.check_name}` on `{evaluation.asset_key.to_user_string()}` "
            f"(Severity: {evaluation.severity.value})"
            + (f" — {evaluation.description}" if evaluation.description else "")
            + (f" — {'; '.join(details)}" if details else "")
        )
    lines.append(f"<{base_url}/runs/{run.run_id}|Open the run>")
    return "\n".join(lines)


def _alert_on_finished_runs(
    context: dg.SensorEvaluationContext,
    slack: SlackNotifier,
    statuses: list[dg.DagsterRunStatus],
    alert_text,
) -> dg.SkipReason:
    """Call `alert_text(run, state)` once per run that ended in `statuses` since the cursor and
    send what it returns (None: nothing to say). Works on every event log storage."""
    state = json.loads(context.cursor) if context.cursor else {}
    if "after" not in state:  # first tick: alert from now on, not on history
        context.update_cursor(json.dumps({"after": time.time(), "done": [], "backfills": []}))
        return dg.SkipReason("Started watching finished runs.")
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=statuses, updated_after=datetime.fromtimestamp(state["after"], timezone.utc)
        ),
        order_by="update_timestamp",
        ascending=True,
        limit=50,
    )
    sent = 0
    for record in records:
        run = record.dagster_run
        text = None if run.run_id in state["done"] else alert_text(run, state)
        if text:
            try:
                slack.send(text, context.log)
            except SlackDeliveryError as error:
                context.log.error(f"Could not alert on run {run.run_id}: {error}; will retry")
                break
            sent += 1
        state["done"] = [*state["done"], run.run_id][-RECENT_IDS_KEPT:]
        state["after"] = record.update_timestamp.timestamp()
        context.update_cursor(json.dumps(state))
    return dg.SkipReason(f"{sent} alert(s) sent for {len(records)} finished run(s).")


def seoul_now() -> datetime:
    return datetime.now(ZoneInfo(TIMEZONE))


def build_missed_run_sensor(
    schedule_name: str, deadline_hour: int, base_url: str, always_expected: bool
) -> dg.SensorDefinition:
    """The daily run that silently did not run: no successful run of the schedule by the
    deadline. Locally the schedule is off by default, so a run is expected only when the
    schedule ran in the last 3 days."""

    @dg.sensor(
        name="slack_on_missed_daily_run",
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Alerts when {schedule_name} has no successful run by {deadline_hour}:00 KST.",
    )
    def slack_on_missed_daily_run(context: dg.SensorEvaluationContext, slack: SlackNotifier):
        now = seoul_now()
        today = now.date().isoformat()
        if now.hour < deadline_hour:
            return dg.SkipReason(f"Before today's {deadline_hour:02d}:00 deadline.")
        if json.loads(context.cursor or "{}").get("alerted") == today:
            return dg.SkipReason("Today's missed run was already alerted.")
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        records = context.instance.get_run_records(
            filters=dg.RunsFilter(
                tags={"dagster/schedule_name": schedule_name},
                created_after=midnight - timedelta(days=3),
            )
        )
        todays = [r.dagster_run for r in records if r.create_timestamp >= midnight]
        if any(run.status == dg.DagsterRunStatus.SUCCESS for run in todays):
            return dg.SkipReason("Today's daily run succeeded.")
        if not always_expected and not records:
            return dg.SkipReason(f"{schedule_name} has not run for 3 days: taken as turned off.")
        statuses = ", ".join(f"{run.run_id[:8]} {run.status.value}" for run in todays) or "none"
        text = (
            f":alarm_clock: *Daily run overdue* — schedule `{schedule_name}` has no successful "
            f"run today ({today}) by {deadline_hour:02d}:00 Asia/Seoul. Today's runs: {statuses}.\n"
            f"<{base_url}/automation|Open schedules and sensors>"
        )
        try:
            slack.send(text, context.log)
        except SlackDeliveryError as error:
            context.log.error(f"Could not alert on the missed daily run: {error}; will retry")
            return dg.SkipReason("Slack unavailable; retrying next tick.")
        context.update_cursor(json.dumps({"alerted": today}))
        return dg.SkipReason("Alerted: today's daily run is overdue.")

    return slack_on_missed_daily_run


def build_alert_sensors(base_url: str) -> list[dg.SensorDefinition]:
    @dg.sensor(
        name="slack_on_run_failure",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="One Slack alert per failed run (retries and backfills not repeated).",
    )
    def slack_on_run_failure(context: dg.SensorEvaluationContext, slack: SlackNotifier):
        def alert_text(run: dg.DagsterRun, state: dict) -> str | None:
            backfill = run.tags.get(BACKFILL_TAG)
            if run.tags.get(WILL_RETRY_TAG) == "true" or backfill in state["backfills"]:
                return None
            if backfill:
                state["backfills"] = [*state["backfills"], backfill][-RECENT_IDS_KEPT:]
            return run_failure_text(context.instance, run, base_url)

        return _alert_on_finished_runs(context, slack, [dg.DagsterRunStatus.FAILURE], alert_text)

    @dg.sensor(
        name="slack_on_asset_check_failure",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="A Slack alert for the failed ERROR-severity asset checks of each run.",
    )
    def slack_on_asset_check_failure(context: dg.SensorEvaluationContext, slack: SlackNotifier):
        def alert_text(run: dg.DagsterRun, state: dict) -> str | None:
            events = context.instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            failed = [
                evaluation
                for event in events
                if (evaluation := event.dagster_event.event_specific_data)
                and not evaluation.passed
                and evaluation.severity == dg.AssetCheckSeverity.ERROR
            ]
            return check_failures_text(failed, run, base_url) if failed else None

        return _alert_on_finished_runs(
            context,
            slack,
            [
                dg.DagsterRunStatus.SUCCESS,
                dg.DagsterRunStatus.FAILURE,
                dg.DagsterRunStatus.CANCELED,
            ],
            alert_text,
        )

    return [slack_on_run_failure, slack_on_asset_check_failure]
