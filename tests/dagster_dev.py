"""A real `dagster dev` on loopback, over a private copy of the code, for tests to drive."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import yaml

from calback_platform.demo.generator import declared_quiet_days
from calback_platform.health import run_checks
from calback_platform.settings import DBT_PROJECT_DIR, PROJECT_ROOT

BIN = Path(sys.executable).parent
START_TIMEOUT = 90
CHECKS = ["webserver", "instance database", "code location", "daemons", "daily run"]


@dataclass
class DagsterDev:
    url: str
    home: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-40:])


def _stop(process: subprocess.Popen) -> None:
    """Ctrl-C to the whole process group, as a terminal sends it; then SIGKILL what lingers."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _instance_config(overrides: dict[str, dict]) -> str:
    """The shipped dagster.yaml, with the settings of `overrides` replaced section by section."""
    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    for section, settings in overrides.items():
        config[section] = {**config.get(section, {}), **settings}
    return yaml.safe_dump(config)


@contextmanager
def dagster_dev(
    source_dir: Path, workdir: Path, instance: dict[str, dict] | None = None
) -> Iterator[DagsterDev]:
    """`instance`: settings that replace those of the shipped dagster.yaml, by section."""
    app = workdir / "app"
    # `dagster dev` re-parses dbt into its project's target/ (dagster-dbt prepare_if_dev): a
    # private copy of the code keeps that away from the manifest other xdist workers read.
    shutil.copytree(
        PROJECT_ROOT / "calback_platform",
        app / "calback_platform",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(
        DBT_PROJECT_DIR,
        app / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"),
    )
    for name in ("workspace.yaml", "experiments.yml"):
        shutil.copy(PROJECT_ROOT / name, app)
    home = workdir / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(_instance_config(instance or {}))
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CALBACK_ENV": "local",
        "CALBACK_SOURCE_DIR": str(source_dir),
        "CALBACK_DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
        "CALBACK_GA4_QUIET_DAYS": declared_quiet_days(source_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONPATH": str(app),  # the copy, ahead of the editable install
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # dbt for prepare_if_dev
    }
    log = workdir / "dagster_dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [BIN / "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=app,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A shell's background job ignores SIGINT, which dagster dev would inherit and
            # then ignore SIGTERM too (it maps SIGTERM to the SIGINT handler).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    dev = DagsterDev(url=f"http://127.0.0.1:{port}", home=home, log=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not all(result.ok for result in run_checks(dev.url, timeout=2)):
            assert process.poll() is None, f"dagster dev exited:\n{_log_tail(log)}"
            assert time.monotonic() < deadline, (
                f"not healthy after {START_TIMEOUT}s: {run_checks(dev.url, timeout=2)}\n"
                f"{_log_tail(log)}"
            )
            time.sleep(1)
        yield dev
    finally:
        _stop(process)
