"""Faults: a killed run worker (under a real `dagster dev`) and dbt's fate, two launches at
once, a load killed mid-write, a full disk.

Each test injects the fault, then proves the recovery: the next run completes without a manual
step, no process of the dead run is left, and every table equals a run that never saw the fault.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import dagster as dg
import duckdb
import psutil
import pytest
import requests
from dagster_dev import DagsterDev, dagster_dev
from dagster_graphql import DagsterGraphQLClient
from test_end_to_end import COLUMNS

from calback_platform.assets.dbt import dbt_executable
from calback_platform.schedules import DAILY_JOB
from calback_platform.sensors.alerts import run_failure_text
from calback_platform.settings import DBT_PROJECT_DIR

pytestmark = pytest.mark.slow  # every test here runs Dagster or a child process

T = TypeVar("T")
JOB = DAILY_JOB
PARTITION_TAG = "dagster/partition"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def wait_for(what: str, probe: Callable[[], T], timeout: float = 120) -> T:
    """`probe()`'s first truthy value, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


def _client(dev: DagsterDev) -> DagsterGraphQLClient:
    address = urlsplit(dev.url)
    return DagsterGraphQLClient(address.hostname, port_number=address.port)


STOP_SENSOR = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) { ... on Sensor { sensorState { id } } }
}
mutation Stop($id: String!) {
  stopSensor(id: $id) { ... on StopSensorMutationResult { instigationState { status } } }
}
"""


def _stop_sensor(dev: DagsterDev, name: str) -> None:
    """Stop a sensor of the code location, as its switch in the UI does."""

    def ask(operation: str, variables: dict) -> dict:
        body = {"query": STOP_SENSOR, "operationName": operation, "variables": variables}
        answer = requests.post(f"{dev.url}/graphql", json=body, timeout=30).json()
        assert "errors" not in answer, answer
        return answer["data"]

    selector = {
        "repositoryLocationName": "calback_platform.definitions",
        "repositoryName": "__repository__",
        "sensorName": name,
    }
    sensor = ask("Sensor", {"selector": selector})["sensorOrError"]
    assert sensor, f"no sensor {name}"
    stopped = ask("Stop", {"id": sensor["sensorState"]["id"]})["stopSensor"]
    assert stopped["instigationState"]["status"] == "STOPPED", stopped


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid, from the engine event that starts it."""
    for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if event.message.startswith("Started process for run (pid: "):
            return int(event.message.split("pid: ")[1].rstrip(")."))
    return None


def _dbt_child(worker: int, selection: str) -> psutil.Process | None:
    """The dbt process under the run worker whose command line holds `selection`."""
    try:
        children = psutil.Process(worker).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            if selection in " ".join(child.cmdline()):
                return child
        except psutil.Error:  # it ended (or is ending) while we looked: not the one
            continue
    return None


def _differences(database: Path, reference: Path) -> dict[str, int]:
    """Per compared table, the rows one warehouse holds and the other does not (as multisets).
    Counted in DuckDB: fetching the marts' source into Python takes 6 s a warehouse."""
    with duckdb.connect() as con:
        con.execute(f"attach '{database}' as run (read_only)")
        con.execute(f"attach '{reference}' as reference (read_only)")
        counts = {}
        for table, columns in COLUMNS.items():
            ours, theirs = (
                f"select {columns} from {side}.{table}" for side in ("run", "reference")
            )
            counts[table] = con.execute(
                f"select count(*) from (({ours} except all {theirs}) "
                f"union all ({theirs} except all {ours}))"
            ).fetchone()[0]
        return counts


# The shipped instance settings, but the run monitor and the run queue poll every second (not
# every 15 and 5 s): the dead run's pool slot is freed, and a queued run starts, at once.
QUICK_DAEMONS = {
    "run_monitoring": {"poll_interval_seconds": 1, "free_slots_after_run_end_seconds": 1},
    "run_coordinator": {
        "module": "dagster",
        "class": "QueuedRunCoordinator",
        "config": {"dequeue_interval_seconds": 1},
    },
}


@pytest.mark.dagster_dev
def test_a_killed_run_worker_blocks_nothing_and_launches_at_once_all_run(built, tmp_path):
    """One `dagster dev` for two faults: a run worker killed inside dbt, then two launches at
    once (their steps wait for each other in the warehouse pool).

    Over the source of `built`, whose warehouse (one run over every day, each worker builds
    it for the marts tests) is the run that never saw the fault."""
    reference, truth = built
    days = sorted(truth["ga4"]["final"])
    launches = [
        {PARTITION_TAG: days[0]},  # the dead run's day again
        {RANGE_START: days[1], RANGE_END: days[-1]},  # every other day in one run
    ]
    with (
        dagster_dev(reference.source_dir, tmp_path / "dev", instance=QUICK_DAEMONS) as dev,
        dg.DagsterInstance.from_config(str(dev.home)) as instance,
    ):
        client = _client(dev)
        # Its runs (the metric series and the board, after each daily run) would take the
        # warehouse pool between ours, and write no table compared here.
        _stop_sensor(dev, "metrics_after_daily_run")
        killed = client.submit_job_execution(JOB, tags={PARTITION_TAG: days[0]})
        worker = wait_for("the run worker", lambda: _worker_pid(instance, killed))
        tree = psutil.Process(worker)
        # Killed in the dbt step of the incremental models a second after its dbt process
        # started (dbt is still starting: its process must die too). A kill inside a window's
        # write is the GA4 load's test below.
        dbt = wait_for(
            "dbt building the incremental models",
            lambda: _dbt_child(worker, "materialized:incremental"),
            timeout=300,
        )
        time.sleep(1)
        left = [tree, *tree.children(recursive=True)]
        os.kill(worker, signal.SIGKILL)

        wait_for(
            "the dead run failed",
            lambda: _status(instance, killed) == dg.DagsterRunStatus.FAILURE,
            timeout=60,
        )
        gone, alive = psutil.wait_procs(left, timeout=30)
        assert alive == [], f"processes of the dead run still alive: {alive}"
        assert dbt.pid in {process.pid for process in gone}
        alert = run_failure_text(instance, instance.get_run_by_id(killed), dev.url)
        assert "(under way when the run died)" in alert and "dbt" in alert.split("\n")[2]

        # The next launches run to the end (the dead run's pool slot was freed), all at once.
        runs = [client.submit_job_execution(JOB, tags=tags) for tags in launches]
        for run_id in runs:
            wait_for(
                "the runs after it ended",
                lambda run_id=run_id: instance.get_run_by_id(run_id).is_finished,
                timeout=600,
            )
        assert [_status(instance, run_id) for run_id in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
    differences = _differences(
        tmp_path / "dev" / "warehouse.duckdb", reference.settings.duckdb_path
    )
    assert differences == dict.fromkeys(COLUMNS, 0)


def test_dbt_started_through_calback_dbt_ends_with_the_process_that_started_it(tmp_path):
    """dbt busy in a long silent query (so no write to a closed pipe stops it) when the process
    that started it is killed: started through `calback-dbt`, it is killed at once."""
    started = tmp_path / "dbt.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "child = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE); "
            "open(sys.argv[1], 'w').write(str(child.pid)); time.sleep(3600)",
            str(started),
            dbt_executable(),
            "show",
            "--inline",
            "select count(*) from range(200000000000)",  # minutes of silent work
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            # its own target/: the shared one holds the manifest the other tests read
            "--target-path",
            str(tmp_path / "target"),
        ],
        env={**os.environ, "CALBACK_DUCKDB_PATH": str(tmp_path / "busy.duckdb")},
    )
    dbt = psutil.Process(
        int(wait_for("dbt started", lambda: started.exists() and started.read_text()))
    )
    # Once its query runs (it opened the warehouse), kill the parent the hard way.
    wait_for("dbt busy", lambda: (tmp_path / "busy.duckdb").exists(), timeout=120)
    time.sleep(2)
    assert dbt.is_running()
    parent.kill()
    parent.wait()
    _, alive = psutil.wait_procs([dbt], timeout=5)
    assert alive == [], "dbt outlived the process that started it"


# --- the GA4 window write -------------------------------------------------------------------
RAW_TABLES = {
    table: f"select * exclude (_loaded_at) from {table} order by all"
    for table in ("raw_ga4.events", "raw_ga4.events_quarantine", "raw_ga4.events_rejected_values")
}
# A GA4 load in a process of its own, which a test may kill or starve of disk. With a marker,
# it stops for good once the window is written and before its transaction commits.
LOAD = """
import sys, time
from datetime import date
from pathlib import Path
from calback_platform.ingest.ga4 import duckdb as duckdb_ga4
from calback_platform.ingest.ga4.export import LocalGA4Export
from calback_platform.warehouse.duckdb import DuckDBWarehouse

database, source, marker, *days = sys.argv[1:]
if marker:
    def written(self, *args):
        Path(marker).touch()
        time.sleep(3600)
    duckdb_ga4.Ga4WindowLoad._landed_stats = written
duckdb_ga4.DuckDBGa4Loader(
    warehouse=DuckDBWarehouse(path=database), export=LocalGA4Export(source_dir=source)
).load_window([date.fromisoformat(day) for day in days])
"""


def _load(database: Path, source: Path, days: list[str], marker: Path | None = None, **popen):
    return subprocess.Popen(
        [sys.executable, "-c", LOAD, str(database), str(source), str(marker or ""), *days],
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _loaded(database: Path, source: Path, days: list[str]) -> None:
    load = _load(database, source, days)
    _, error = load.communicate(timeout=300)
    assert load.returncode == 0, error[-2000:]


def _raw(database: Path) -> dict[str, list]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {table: con.execute(sql).fetchall() for table, sql in RAW_TABLES.items()}


def _source_with_a_short_day(demo_dir: Path, workdir: Path, day: str) -> tuple[Path, bytes]:
    """A copy of the demo whose `day` lacks its last 40 lines; returns it and the whole file."""
    source = workdir / "source"
    shutil.copytree(demo_dir, source)
    path = source / "ga4" / f"events_{day.replace('-', '')}.jsonl"
    whole = path.read_bytes()
    path.write_bytes(b"".join(whole.splitlines(keepends=True)[:-40]))
    return source, whole


def test_a_kill_during_the_ga4_window_write_leaves_the_old_days(demo_dir, truth, tmp_path):
    days = sorted(truth["ga4"]["final"])[:3]
    source, whole = _source_with_a_short_day(demo_dir, tmp_path, days[1])
    database = tmp_path / "warehouse.duckdb"
    _loaded(database, source, days)
    before = _raw(database)
    (source / "ga4" / f"events_{days[1].replace('-', '')}.jsonl").write_bytes(whole)

    marker = tmp_path / "written"
    killed = _load(database, source, days, marker)
    wait_for("the window written", marker.exists, timeout=120)
    killed.kill()
    killed.communicate()
    assert _raw(database) == before  # the old days, whole: the write never committed

    _loaded(database, source, days)
    reference = tmp_path / "reference.duckdb"
    _loaded(reference, source, days)
    assert _raw(database) == _raw(reference) != before


def test_a_full_disk_during_a_load_fails_it_and_loses_nothing(demo_dir, truth, tmp_path):
    days = sorted(truth["ga4"]["final"])[:3]
    source, whole = _source_with_a_short_day(demo_dir, tmp_path, days[1])
    disk = tmp_path / "disk"
    disk.mkdir()
    database = disk / "warehouse.duckdb"
    _loaded(database, source, days[:1])
    before = _raw(database)
    (source / "ga4" / f"events_{days[1].replace('-', '')}.jsonl").write_bytes(whole)

    with small_disk(disk, room=256 * 1024) as limit:
        full = _load(database, source, days, **limit)
        _, error = full.communicate(timeout=300)
    assert full.returncode != 0
    assert "No space left on device" in error or "File too large" in error, error[-2000:]
    assert _raw(database) == before  # reopens, as it was

    _loaded(database, source, days)  # room again: the re-run lands it
    reference = tmp_path / "reference.duckdb"
    _loaded(reference, source, days)
    assert _raw(database) == _raw(reference)


@contextmanager
def small_disk(directory: Path, room: int) -> Iterator[dict]:
    """`directory` with only `room` bytes more than it holds: a tmpfs of that size where this
    machine lets tests mount one, else a limit on the size of any file a load writes (which
    DuckDB meets as a failed write, like a full disk). Yields the Popen arguments to use."""
    size = sum(path.stat().st_size for path in directory.iterdir()) + room
    saved = directory.with_name(directory.name + ".saved")
    shutil.copytree(directory, saved)
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        if mounted:
            shutil.copytree(saved, directory, dirs_exist_ok=True)
            yield {}
        else:
            yield {"preexec_fn": lambda: _limit_file_size(size)}
    finally:
        if mounted:
            shutil.rmtree(saved)
            shutil.copytree(directory, saved)  # what the full disk holds now
            subprocess.run(["umount", str(directory)], check=True)
            shutil.copytree(saved, directory, dirs_exist_ok=True)
        shutil.rmtree(saved, ignore_errors=True)


def _limit_file_size(size: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
