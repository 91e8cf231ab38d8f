"""Trim Dagster's own history: finished runs older than `keep_days`, with their event logs.

Every run leaves its record, tags, event log (every step event and log line) and captured stdout
and stderr in the instance; a year of daily runs and check runs makes a large PostgreSQL database
and a slower UI and daemon. Tick history is trimmed by the instance's own `retention` setting
(deploy/dagster.yaml); runs are not, hence this job.

A deleted run takes its materialization and check events with it. Each asset's latest
materialization and its partition status are cached per asset and stay; but a changed partitions
definition (a new CALBACK_START_DATE) rebuilds that status from the remaining events, and days
last materialized before the cut-off then show as missing until re-run.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from calback_platform.schedules import nightly_schedule

JOB_NAME = "clean_up_instance_history"
# Only runs that reached an end: a run still queued or in progress is never touched, however old.
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


class CleanupConfig(dg.Config):
    keep_days: int
    # Runs fetched and deleted per round: bounds memory and each statement however large the
    # backlog (the first clean-up of an old instance).
    batch_size: int = 200


def old_runs(instance: dg.DagsterInstance, cutoff: datetime, limit: int) -> list[dg.RunRecord]:
    """Finished runs created and last updated before `cutoff`, oldest first."""
    return list(
        instance.get_run_records(
            filters=dg.RunsFilter(statuses=FINISHED, created_before=cutoff, updated_before=cutoff),
            limit=limit,
            ascending=True,
        )
    )


def delete_old_runs(
    instance: dg.DagsterInstance, cutoff: datetime, batch_size: int, log: dg.DagsterLogManager
) -> dict[str, int]:
    deleted, previous = 0, None
    while batch := old_runs(instance, cutoff, batch_size):
        if batch[0].dagster_run.run_id == previous:
            raise dg.Failure(f"Run {previous} is still there after its deletion; stopping.")
        previous = batch[0].dagster_run.run_id
        for record in batch:
            run_id = record.dagster_run.run_id
            # Captured stdout/stderr first: were the run record gone, nothing would find them.
            instance.compute_log_manager.delete_logs(prefix=[run_id])
            # The run record with its tags, and its whole event log (asset events included).
            instance.delete_run(run_id)
        deleted += len(batch)
        log.info(f"Deleted {deleted} runs so far (the last created {batch[-1].create_timestamp}).")
    unfinished = instance.get_runs_count(
        dg.RunsFilter(
            statuses=[s for s in dg.DagsterRunStatus if s not in FINISHED],
            created_before=cutoff,
        )
    )
    if unfinished:
        log.warning(
            f"{unfinished} run(s) created before {cutoff:%Y-%m-%d} are still not finished and were "
            "kept; they look stuck: cancel or delete them in the UI."
        )
    return {"runs_deleted": deleted, "unfinished_runs_kept": unfinished}


def build_cleanup_job(keep_days: int) -> dg.JobDefinition:
    """The clean-up job; `keep_days` is its default, which the launchpad may override."""

    @dg.op(name="delete_old_runs")
    def delete_old_runs_op(context: dg.OpExecutionContext, config: CleanupConfig):
        if config.keep_days < 1:
            raise dg.Failure(
                f"keep_days={config.keep_days} would delete every finished run: use 1 or more."
            )
        if config.batch_size < 1:
            raise dg.Failure(f"batch_size={config.batch_size}: use 1 or more.")
        cutoff = datetime.now(timezone.utc) - timedelta(days=config.keep_days)
        context.log.info(f"Deleting finished runs older than {config.keep_days} days ({cutoff}).")
        counts = delete_old_runs(context.instance, cutoff, config.batch_size, context.log)
        context.log.info(
            f"Deleted {counts['runs_deleted']} runs with their event logs; kept "
            f"{counts['unfinished_runs_kept']} old unfinished runs."
        )
        return dg.Output(
            counts,
            metadata={**counts, "keep_days": config.keep_days, "cutoff": cutoff.isoformat()},
        )

    @dg.job(
        name=JOB_NAME,
        config={"ops": {"delete_old_runs": {"config": {"keep_days": keep_days}}}},
        executor_def=dg.in_process_executor,
        description=f"Delete finished runs (and their event logs and captured logs) older than "
        f"keep_days (default {keep_days}).",
    )
    def clean_up_instance_history():
        delete_old_runs_op()

    return clean_up_instance_history


def build_cleanup_schedule(job: dg.JobDefinition, running: bool) -> dg.ScheduleDefinition:
    # 03:30 Seoul: the 02:00 daily run is usually done by then, so the two rarely share the queue.
    return nightly_schedule(job, "30 3 * * *", running, "Trim Dagster's run history every night.")
