"""Slack alerts for failed runs and failed ERROR-severity asset checks.

Both sensors walk the runs that ended since a cursor they keep themselves. The cursor moves past
a run only once Slack took its alert, so an outage is retried on the next tick and nothing is
sent twice. A failed check does not fail its run, hence a sensor of its own that
reads each finished run's check evaluations.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import dagster as dg

from calback_platform.partitions import run_partition_range, seoul_datetime
from calback_platform.sensors.slack import SlackDeliveryError, SlackNotifier

BACKFILL_TAG = "dagster/backfill"
WILL_RETRY_TAG = "dagster/will_retry"
ERROR_LINES = 6
RECENT_IDS_KEPT = 500


def partition_text(tags: dict[str, str]) -> str:
    keys = run_partition_range(tags)
    if not keys:
        return "none (unpartitioned)"
    return keys[0] if keys[0] == keys[1] else f"{keys[0]} .. {keys[1]}"


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
    if steps:
        steps_line = f"• Failed steps: {', '.join(steps)}"
    elif unfinished := _unfinished_steps(instance, run.run_id):  # its worker died in them
        steps_line = f"• Failed steps: {', '.join(unfinished)} (under way when the run died)"
    else:
        steps_line = "• Failed steps: none (the run failed before or between steps)"
    lines = [
        f":red_circle: *Run failed* — job `{run.job_name}`",
        f"• Partition: {partition_text(run.tags)}",
        steps_line,
    ]
    if assets:
        lines.append(f"• Assets: {', '.join(assets[:10])}{' …' if len(assets) > 10 else ''}")
    lines.append(f"• Error:\n```{_first_lines(errors[0] if errors else 'no error recorded')}```")
    lines.append(f"<{base_url}/runs/{run.run_id}|Open the run>")
    return "\n".join(lines)


def _unfinished_steps(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The steps that started and never ended, as when a run worker is killed."""
    started = {
        event.step_key
        for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
        if event.step_key
    }
    ended = {
        event.step_key
        for event in instance.all_logs(
            run_id,
            of_type={dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE},
        )
        if event.step_key
    }
    return sorted(started - ended)


def backfill_failures_text(
    instance: dg.DagsterInstance, runs: list[dg.DagsterRun], alerted_before: int, base_url: str
) -> str:
    """One message for the runs of a backfill that failed since the last tick: the first such
    message carries the first run's details, later ones only count, so a backfill whose every
    day fails does not flood the channel."""
    backfill = runs[0].tags[BACKFILL_TAG]
    total = alerted_before + len(runs)
    partitions = ", ".join(partition_text(run.tags) for run in runs[:8])
    summary = (
        f":red_circle: *{len(runs)} {'more ' if alerted_before else ''}run(s) of backfill "
        f"`{backfill}` failed* ({total} in all so far) — partitions: {partitions}"
        f"{' …' if len(runs) > 8 else ''}\n<{base_url}/runs/b/{backfill}|Open the backfill>"
    )
    if alerted_before:
        return summary
    return summary + "\nFirst of them:\n" + run_failure_text(instance, runs[0], base_url)


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


def _send(slack: SlackNotifier, text: str, context: dg.SensorEvaluationContext) -> bool:
    try:
        slack.send(text, context.log)
    except SlackDeliveryError as error:
        context.log.error(f"Could not send an alert: {error}; it is retried on the next tick")
        return False
    return True


def _alert_on_finished_runs(
    context: dg.SensorEvaluationContext,
    slack: SlackNotifier,
    statuses: list[dg.DagsterRunStatus],
    alert_text,
    group_of=lambda run: None,
) -> dg.SkipReason:
    """Send `alert_text(runs, alerted_before)` for the runs that ended in `statuses` since the
    cursor: one call per run, or one per group for the runs `group_of` puts in a group this tick
    (`alerted_before`: how many of the group were alerted on earlier ticks). `None`: nothing to
    say. A run counts as done only once its alert went out. Works on every event log storage."""
    state = json.loads(context.cursor) if context.cursor else {}
    if "after" not in state:  # first tick: alert from now on, not on history
        context.update_cursor(json.dumps({"after": time.time(), "done": [], "groups": {}}))
        return dg.SkipReason("Started watching finished runs.")
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=statuses, updated_after=datetime.fromtimestamp(state["after"], timezone.utc)
        ),
        order_by="update_timestamp",
        ascending=True,
        limit=50,
    )
    # One batch per ungrouped run, one per group: in the order the runs ended.
    batches: list[tuple[str | None, list[dg.DagsterRun]]] = []
    group_batches: dict[str, list[dg.DagsterRun]] = {}
    for record in records:
        run = record.dagster_run
        if run.run_id in state["done"]:
            continue
        group = group_of(run)
        if group in group_batches:
            group_batches[group].append(run)
            continue
        batches.append((group, [run]))
        if group is not None:
            group_batches[group] = batches[-1][1]
    sent, delivered = 0, True
    for group, runs in batches:
        text = alert_text(runs, state["groups"].get(group, 0) if group else 0)
        if text and not (delivered := _send(slack, text, context)):
            break
        sent += bool(text)
        if group:
            state["groups"][group] = state["groups"].get(group, 0) + len(runs)
        state["done"] = [*state["done"], *(r.run_id for r in runs)][-RECENT_IDS_KEPT:]
    if delivered and records:
        state["after"] = records[-1].update_timestamp.timestamp()
    state["groups"] = dict(list(state["groups"].items())[-RECENT_IDS_KEPT:])
    context.update_cursor(json.dumps(state))
    return dg.SkipReason(f"{sent} alert(s) sent for {len(records)} finished run(s).")


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
        now = seoul_datetime()
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
        description="One alert per failed run (not per retry); a backfill's failures summarized.",
    )
    def slack_on_run_failure(context: dg.SensorEvaluationContext, slack: SlackNotifier):
        def alert_text(runs: list[dg.DagsterRun], alerted_before: int) -> str | None:
            runs = [run for run in runs if run.tags.get(WILL_RETRY_TAG) != "true"]
            if not runs:
                return None
            if BACKFILL_TAG not in runs[0].tags:
                return run_failure_text(context.instance, runs[0], base_url)
            return backfill_failures_text(context.instance, runs, alerted_before, base_url)

        return _alert_on_finished_runs(
            context,
            slack,
            [dg.DagsterRunStatus.FAILURE],
            alert_text,
            group_of=lambda run: run.tags.get(BACKFILL_TAG),
        )

    @dg.sensor(
        name="slack_on_asset_check_failure",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="A Slack alert for the failed ERROR-severity asset checks of each run.",
    )
    def slack_on_asset_check_failure(context: dg.SensorEvaluationContext, slack: SlackNotifier):
        def alert_text(runs: list[dg.DagsterRun], alerted_before: int) -> str | None:
            (run,) = runs
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
