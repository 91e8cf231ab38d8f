"""The production instance (deploy/dagster.yaml) on a real PostgreSQL, and the history clean-up.

The server is the loopback one tests/servers/prepare-postgres.sh starts (`make test-servers`);
each test gets a database of its own, so parallel workers never share Dagster's tables.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from calback_platform.instance_backup import build_backup_job, restore_instance
from calback_platform.instance_cleanup import JOB_NAME, build_cleanup_job, build_cleanup_schedule
from calback_platform.schedules import DAILY_JOB
from calback_platform.settings import PROJECT_ROOT

DEPLOY_CONFIG = PROJECT_ROOT / "deploy" / "dagster.yaml"
POSTGRES_URL = os.environ.get(
    "CALBACK_TEST_POSTGRES_URL", "postgresql://calback:calback@127.0.0.1:55432/calback_test"
)
RAW = "raw_ga4/events"


def sql(url: str, query: str, params: tuple = ()) -> list[tuple]:
    # psycopg2's `with connection` only ends the transaction; closing() also closes it.
    with closing(psycopg2.connect(url)) as connection, connection, connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped afterwards."""
    try:
        admin = psycopg2.connect(POSTGRES_URL, connect_timeout=5)
    except psycopg2.OperationalError as error:
        admin, problem = None, str(error).strip()
    if admin is None:
        where = urlsplit(POSTGRES_URL)
        pytest.fail(
            f"No test PostgreSQL at {where.hostname}:{where.port} ({problem}): "
            "run `make test-servers` (tests/servers/prepare-postgres.sh) first.",
            pytrace=False,
        )
    admin.autocommit = True
    name = f"calback_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f'create database "{name}"')
    try:
        yield urlsplit(POSTGRES_URL)._replace(path=f"/{name}").geturl()
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def instance(pg_database: str, tmp_path: Path, monkeypatch) -> Iterator[dg.DagsterInstance]:
    """An instance loaded from the production dagster.yaml, pointed at the test database."""
    url = urlsplit(pg_database)
    environment = {
        "DAGSTER_PG_HOST": url.hostname,
        "DAGSTER_PG_PORT": str(url.port),
        "DAGSTER_PG_USERNAME": url.username,
        "DAGSTER_PG_PASSWORD": url.password,
        "DAGSTER_PG_DB": url.path.lstrip("/"),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_CONFIG, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as loaded:
        yield loaded


def materialize(platform, instance: dg.DagsterInstance, days: list[str]) -> list[str]:
    run_ids = []
    for day in days:
        result = platform.run(partition_key=day, selection=RAW, instance=instance)
        assert result.success
        run_ids.append(result.run_id)
    return run_ids


def add_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus) -> str:
    """A run record with one event, as the daemon or a crashed worker would leave it."""
    run = instance.add_run(
        dg.DagsterRun(job_name=DAILY_JOB, run_id=str(uuid.uuid4()), status=status)
    )
    instance.report_engine_event(f"run left {status.value}", run)
    return run.run_id


def age(url: str, run_ids: list[str], days: int, *, created: bool = True, updated: bool = True):
    """Move runs (and their events) `days` into the past, as if they had run then."""
    shift = timedelta(days=days)
    if created:
        sql(
            url,
            "update runs set create_timestamp = create_timestamp - %s where run_id = any(%s)",
            (shift, run_ids),
        )
    if updated:
        sql(
            url,
            "update runs set update_timestamp = update_timestamp - %s,"
            " start_time = start_time - %s, end_time = end_time - %s where run_id = any(%s)",
            (shift, shift.total_seconds(), shift.total_seconds(), run_ids),
        )
        sql(
            url,
            "update event_logs set timestamp = timestamp - %s where run_id = any(%s)",
            (shift, run_ids),
        )


def count_by_run(url: str, table: str, run_ids: list[str]) -> dict[str, int]:
    rows = sql(
        url,
        f"select run_id, count(*) from {table} where run_id = any(%s) group by run_id",
        (run_ids,),
    )
    return {run_id: dict(rows).get(run_id, 0) for run_id in run_ids}


def cleanup_config(**config) -> dict:
    return {"ops": {"delete_old_runs": {"config": config}}}


def test_the_production_config_loads_and_keeps_dagster_state_in_postgres(instance, pg_database):
    config = yaml.safe_load(DEPLOY_CONFIG.read_text())
    connection = config["storage"]["postgres"]["postgres_db"]
    # The connection, password included, comes from the environment, never from the file.
    variables = {
        "hostname": "DAGSTER_PG_HOST",
        "port": "DAGSTER_PG_PORT",
        "username": "DAGSTER_PG_USERNAME",
        "password": "DAGSTER_PG_PASSWORD",
        "db_name": "DAGSTER_PG_DB",
    }
    assert {field: connection[field] for field in variables} == {
        field: {"env": name} for field, name in variables.items()
    }
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    tables = {row[0] for row in sql(pg_database, "select tablename from pg_tables")}
    assert {"runs", "run_tags", "event_logs", "asset_keys", "job_ticks"} <= tables

    assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
    runs = config["concurrency"]["runs"]
    queue = instance.get_concurrency_config().run_queue_config
    assert queue.max_concurrent_runs == runs["max_concurrent_runs"] == 4
    assert queue.tag_concurrency_limits == [{"key": "dagster/backfill", "limit": 2}]
    assert (
        instance.global_op_concurrency_default_limit
        == config["concurrency"]["pools"]["default_limit"]
    )
    # Two retries; the failure alert waits for the last one (it skips dagster/will_retry runs).
    assert instance.run_retries_enabled
    assert instance.run_retries_max_retries == config["run_retries"]["max_retries"] == 2
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_runtime_seconds == 12 * 3600
    assert not instance.telemetry_enabled


def test_tick_retention_follows_the_config(instance):
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    sensor = instance.get_tick_retention_settings(InstigatorType.SENSOR)
    schedule = instance.get_tick_retention_settings(InstigatorType.SCHEDULE)
    assert sensor[TickStatus.SKIPPED] == 7 and sensor[TickStatus.SUCCESS] == 30
    assert schedule[TickStatus.SUCCESS] == schedule[TickStatus.FAILURE] == 90
    # Unset statuses keep Dagster's default (-1: kept) rather than being purged.
    assert sensor[TickStatus.STARTED] == -1


@pytest.mark.slow
def test_materializations_are_stored_in_postgres_with_utc_timestamps(
    platform, truth, instance, pg_database
):
    days = sorted(truth["ga4"]["final"])[:2]
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    run_ids = materialize(platform, instance, days)

    rows = sql(pg_database, "select run_id, status, create_timestamp from runs")
    assert {(run_id, status) for run_id, status, _ in rows} == {(r, "SUCCESS") for r in run_ids}
    # The test server runs on Asia/Seoul time: without the UTC session of the deploy config
    # these would be nine hours ahead.
    for _, _, created in rows:
        assert before - timedelta(minutes=1) <= created <= before + timedelta(minutes=10)
    materializations = sql(
        pg_database,
        "select run_id, asset_key, partition from event_logs"
        " where dagster_event_type = 'ASSET_MATERIALIZATION' order by partition",
    )
    assert materializations == [
        (run_id, '["raw_ga4", "events"]', day) for run_id, day in zip(run_ids, days, strict=True)
    ]
    assert instance.get_materialized_partitions(dg.AssetKey(["raw_ga4", "events"])) == set(days)


@pytest.mark.slow
def test_cleanup_deletes_old_finished_runs_and_their_events_only(
    platform, truth, instance, pg_database
):
    days = sorted(truth["ga4"]["final"])[:3]
    old_success_1, old_success_2, recent = materialize(platform, instance, days)
    old_canceled = add_run(instance, dg.DagsterRunStatus.CANCELED)
    old_started = add_run(instance, dg.DagsterRunStatus.STARTED)
    old_starting = add_run(instance, dg.DagsterRunStatus.STARTING)
    # Created long ago but finished recently (it sat in the queue): not old yet.
    finished_lately = add_run(instance, dg.DagsterRunStatus.SUCCESS)
    old = [old_success_1, old_success_2, old_canceled, old_started, old_starting]
    age(pg_database, old, days=100)
    age(pg_database, [finished_lately], days=100, updated=False)
    everything = [*old, recent, finished_lately]
    events_before = count_by_run(pg_database, "event_logs", everything)
    tags_before = count_by_run(pg_database, "run_tags", everything)
    assert all(events_before.values()) and tags_before[old_success_1] > 0
    logs_dir = Path(instance.root_directory) / "storage"
    assert (logs_dir / old_success_1).is_dir()

    # The job's own default (120 days) is older than every run here: nothing goes.
    job = build_cleanup_job(keep_days=120)
    first = job.execute_in_process(instance=instance)
    assert first.success
    assert first.output_for_node("delete_old_runs") == {
        "runs_deleted": 0,
        "unfinished_runs_kept": 0,
    }
    assert count_by_run(pg_database, "event_logs", everything) == events_before

    # keep_days from the run config, in batches of two.
    result = job.execute_in_process(
        instance=instance, run_config=cleanup_config(keep_days=30, batch_size=2)
    )
    assert result.success
    assert result.output_for_node("delete_old_runs") == {
        "runs_deleted": 3,
        "unfinished_runs_kept": 2,
    }
    deleted = [old_success_1, old_success_2, old_canceled]
    kept = [old_started, old_starting, recent, finished_lately]
    remaining = {row[0] for row in sql(pg_database, "select run_id from runs")}
    assert remaining == {*kept, first.run_id, result.run_id}
    events_after = count_by_run(pg_database, "event_logs", everything)
    assert {run_id: events_after[run_id] for run_id in deleted} == dict.fromkeys(deleted, 0)
    assert {run_id: events_after[run_id] for run_id in kept} == {
        run_id: events_before[run_id] for run_id in kept
    }
    tags_after = count_by_run(pg_database, "run_tags", everything)
    assert [tags_after[run_id] for run_id in deleted] == [0, 0, 0]
    assert tags_after[recent] == tags_before[recent]
    assert not (logs_dir / old_success_1).exists() and (logs_dir / recent).is_dir()
    materialized = sql(
        pg_database,
        "select partition from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'",
    )
    assert materialized == [(days[2],)]


@pytest.mark.slow
def test_cleanup_refuses_a_keep_days_below_one(instance):
    result = build_cleanup_job(keep_days=90).execute_in_process(
        instance=instance, run_config=cleanup_config(keep_days=0), raise_on_error=False
    )
    assert not result.success
    assert "keep_days=0 would delete every finished run" in str(
        result.failure_data_for_node("delete_old_runs").error
    )


def test_cleanup_schedule_runs_nightly_in_seoul():
    job = build_cleanup_job(keep_days=90)
    schedule = build_cleanup_schedule(job, running=True)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 3 * * *", "Asia/Seoul")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert build_cleanup_schedule(job, running=False).default_status == (
        dg.DefaultScheduleStatus.STOPPED
    )
    assert schedule.job_name == JOB_NAME


@pytest.mark.slow
def test_the_instance_database_is_dumped_nightly_and_restores_with_its_runs(
    platform, truth, instance, pg_database, tmp_path
):
    run_ids = materialize(platform, instance, sorted(truth["ga4"]["final"])[:2])
    backups = tmp_path / "backups"
    backups.mkdir()
    expired = backups / "dagster-instance-20200101T000000Z.dump"  # older than keep_days
    expired.write_bytes(b"old")
    result = build_backup_job(str(backups), keep_days=14).execute_in_process(instance=instance)
    assert result.success
    (dump,) = backups.glob("dagster-instance-*.dump")
    assert dump != expired and not expired.exists()
    assert result.output_for_node("dump_instance_database") == str(dump)

    events = "select run_id, dagster_event_type, asset_key, partition from event_logs"
    runs = "select run_id, status from runs"
    with fresh_database() as restored:  # the server was lost: a new, empty database
        restore_instance(dump, restored)
        assert {r for r in sql(restored, runs) if r[0] in run_ids} == {
            (run_id, "SUCCESS") for run_id in run_ids
        }
        assert sorted((r for r in sql(restored, events) if r[0] in run_ids), key=str) == sorted(
            (r for r in sql(pg_database, events) if r[0] in run_ids), key=str
        )
