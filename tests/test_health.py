"""`calback health` against a real `dagster dev`: healthy, a failed or stale daily run, stopped."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid

import dagster as dg
import pytest
from dagster_dev import BIN, CHECKS, dagster_dev

from calback_platform.cli import main
from calback_platform.health import (
    DAEMONS,
    SCHEDULE_TAG,
    RunSummary,
    WebserverClient,
    display_url,
    judge_daemons,
    judge_daily_run,
)
from calback_platform.schedules import DAILY_JOB, DAILY_SCHEDULE

HOUR = 3600.0


def _add_daily_run(
    instance: dg.DagsterInstance, status: str, ended_hours_ago: float = 0.0, daily: bool = True
) -> str:
    """A run of the daily job in the instance dagster dev serves, ended by its real event."""
    tags = {SCHEDULE_TAG: DAILY_SCHEDULE} if daily else {}
    run = instance.add_run(dg.DagsterRun(job_name=DAILY_JOB, run_id=str(uuid.uuid4()), tags=tags))
    event_type = {"SUCCESS": dg.DagsterEventType.RUN_SUCCESS}.get(
        status, dg.DagsterEventType.RUN_FAILURE
    )
    instance.report_dagster_event(
        dg.DagsterEvent(event_type.value, job_name=DAILY_JOB),
        run.run_id,
        timestamp=time.time() - ended_hours_ago * HOUR,
    )
    return run.run_id


def _health(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["health", *args])
    return code, capsys.readouterr().out.splitlines()


def _verdicts(lines: list[str]) -> list[str]:
    return [line.split(":")[0] for line in lines]


@pytest.mark.dagster_dev
@pytest.mark.slow
def test_health_follows_a_real_dagster_dev(demo_dir, tmp_path, capsys):
    with dagster_dev(demo_dir, tmp_path) as dev:
        # The console script, as a monitor runs it, with the URL from DAGSTER_WEBSERVER_URL.
        done = subprocess.run(
            [BIN / "calback", "health", "--timeout", "5"],
            env={**os.environ, "DAGSTER_WEBSERVER_URL": dev.url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert _verdicts(lines) == [f"OK {name}" for name in CHECKS]
        assert lines[0] == f"OK webserver: {dev.url} answers (dagster {dg.__version__})"
        assert lines[2] == "OK code location: loaded: calback_platform.definitions"
        assert re.fullmatch(r"OK daemons: \d+ required daemons healthy .*", lines[3])
        assert lines[4] == f"OK daily run: no daily run yet ({DAILY_SCHEDULE} has never run)"

        # Credentials in the URL reach the server but never the output.
        code, lines = _health(capsys, "--url", dev.url.replace("//", "//monitor:s3cret@"))
        assert code == 0 and "s3cret" not in "\n".join(lines)

        with dg.DagsterInstance.from_config(str(dev.home)) as instance:
            # A manual run of the job is not the daily run.
            _add_daily_run(instance, "FAILURE", daily=False)
            code, lines = _health(capsys, "--url", dev.url)
            assert code == 0 and "no daily run yet" in lines[4]

            stale = _add_daily_run(instance, "SUCCESS", ended_hours_ago=30)
            code, lines = _health(capsys, "--url", dev.url)
            assert code == 1
            assert _verdicts(lines) == [f"OK {name}" for name in CHECKS[:4]] + ["FAIL daily run"]
            assert f"last success {stale[:8]} ended 30.0h ago" in lines[4]
            assert lines[4].endswith("older than 26h")
            code, lines = _health(capsys, "--url", dev.url, "--max-age-hours", "48")
            assert code == 0 and lines[4].startswith(f"OK daily run: last success {stale[:8]}")

            failed = _add_daily_run(instance, "FAILURE")
            code, lines = _health(capsys, "--url", dev.url, "--max-age-hours", "48")
            assert code == 1
            assert lines[4].startswith(f"FAIL daily run: latest run {failed[:8]} FAILURE (0.0h ago")

            fresh = _add_daily_run(instance, "SUCCESS")
            code, lines = _health(capsys, "--url", dev.url)
            assert code == 0 and lines[4].startswith(f"OK daily run: last success {fresh[:8]}")

        # The daemons' real heartbeats, judged now and as if 10 minutes had passed in silence.
        statuses = WebserverClient(dev.url, 5).graphql(DAEMONS)["instance"]["daemonHealth"]
        statuses = statuses["allDaemonStatuses"]
        assert judge_daemons(statuses, time.time(), 600).ok
        newest = max(status["lastHeartbeatTime"] for status in statuses if status["required"])
        silent = judge_daemons(statuses, newest + 601, 600)
        assert not silent.ok and "SCHEDULER (last heartbeat" in silent.detail

    # dagster dev is stopped: the webserver check fails and the others are not attempted.
    code, lines = _health(capsys, "--url", dev.url, "--timeout", "3")
    assert code == 1
    assert lines[0] == f"FAIL webserver: {dev.url}: cannot connect (Connection refused)"
    assert lines[1:] == [
        f"FAIL {name}: not checked: the webserver did not answer" for name in CHECKS[1:]
    ]


def _run(status: str, created_hours_ago: float, ended_hours_ago: float | None, now: float):
    ended = None if ended_hours_ago is None else now - ended_hours_ago * HOUR
    return RunSummary(uuid.uuid4().hex, status, now - created_hours_ago * HOUR, ended)


@pytest.mark.parametrize(
    ("latest", "success", "ok", "words"),
    [
        (None, None, True, "no daily run yet"),
        (("CANCELED", 3, 2), ("SUCCESS", 5, 4.5), False, "CANCELED"),
        (("CANCELING", 1, None), ("SUCCESS", 25, 24), False, "CANCELING"),
        # A run in progress does not hide a recent success, nor rescue an old one.
        (("STARTED", 0.5, None), ("SUCCESS", 24.5, 24), True, "is STARTED"),
        (("STARTED", 0.5, None), ("SUCCESS", 30, 29), False, "older than 26h"),
        # The first run ever: fine while young, stuck once older than the limit.
        (("QUEUED", 1, None), None, True, "no successful run yet"),
        (("QUEUED", 27, None), None, False, "no successful run yet"),
    ],
)
def test_daily_run_verdicts(latest, success, ok, words):
    now = time.time()
    latest_run = _run(*latest, now) if latest else None
    success_run = _run(*success, now) if success else None
    verdict = judge_daily_run(latest_run, success_run, now, max_age_hours=26)
    assert (verdict.ok, words in verdict.detail) == (ok, True), verdict.line()


def test_health_pins_the_daily_schedule_and_its_job(platform):
    assert platform.defs.resolve_schedule_def(DAILY_SCHEDULE).job_name == DAILY_JOB


def test_display_url_drops_credentials():
    url = "https://monitor:s3cret@dagster.example.com:8443/ops/?token=abc"
    assert display_url(url) == "https://dagster.example.com:8443/ops/"
