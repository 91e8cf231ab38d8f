"""Shared fixtures: a small generated dataset and a platform wired to a temporary DuckDB."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from calback_platform.assets.metrics import METRICS_ASSET, METRICS_JOB
from calback_platform.demo.generator import GeneratorConfig, declared_quiet_days, generate
from calback_platform.schedules import DAILY_JOB
from calback_platform.settings import Settings, load_settings

START = date(2024, 3, 1)
DAYS = 8

os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def pytest_configure(config) -> None:
    """Tests load the definitions, which need the manifest of the dbt project as it is now
    (`dagster dev` prepares its own): parsed once, before any xdist worker starts."""
    if hasattr(config, "workerinput"):
        return
    from calback_platform.assets.dbt import prepare_manifest

    prepare_manifest()


# --- markers: which tests need a server, which are slow ---------------------------------------
# Registered in pyproject.toml (with --strict-markers). A test that uses one of these fixtures
# (directly or through another fixture) gets the marker here; a test that starts a server or
# runs Dagster itself carries its marker in its own file. `slow`: it executes Dagster (a run,
# `dg.materialize`), starts a child process (dbt, `dagster dev`, a load to kill) or shares one
# of the expensive module fixtures; the servers alone start in about a second.
MARKER_FIXTURES: dict[str, set[str]] = {
    "postgres": {"pg_database"},
    "firestore_emulator": {"emulator_host"},
    "slow": {"built", "compiled_target", "revisit"},
}


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for marker, names in MARKER_FIXTURES.items():
            if fixtures & names:
                item.add_marker(marker)


def small_config(out: Path, **overrides) -> GeneratorConfig:
    values = dict(users=250, days=DAYS, start=START, seed=11, bad_share=0.01, duplicate_share=0.02)
    # GA4's own session attribution only on the last days: the days before test ours.
    values["last_click_days"] = 3
    return GeneratorConfig(out=out, **{**values, **overrides})


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(small_config(out))
    return out


@pytest.fixture(scope="session")
def truth(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "truth.json").read_text())


@dataclass
class Platform:
    """The code location built from settings that point at a private source copy and DuckDB."""

    settings: Settings
    defs: dg.Definitions

    @property
    def source_dir(self) -> Path:
        return self.settings.source_dir

    def run(
        self,
        partition_key: str | None = None,
        first: str | None = None,
        last: str | None = None,
        selection: str | list[str] | None = None,
        run_config: dict | None = None,
        instance: dg.DagsterInstance | None = None,
        tags: dict[str, str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Materialize everything (or `selection`) for one partition or a single-run range,
        on `instance` if given (to inspect its records), else on a throwaway in-memory one
        (a SQLite event log would add 5 to 15 s a run)."""
        job = self.defs.resolve_job_def(DAILY_JOB)
        tags = dict(tags or {})
        if first:
            tags["dagster/asset_partition_range_start"] = first
            tags["dagster/asset_partition_range_end"] = last
        keys = [selection] if isinstance(selection, str) else selection or []
        kwargs = {"asset_selection": [dg.AssetKey.from_user_string(k) for k in keys]}
        if not keys:
            kwargs = {}
        with ExitStack() as stack:
            instance = instance or stack.enter_context(dg.DagsterInstance.ephemeral())
            return job.execute_in_process(
                instance=instance,
                partition_key=partition_key,
                tags=tags,
                run_config=run_config,
                raise_on_error=False,
                **kwargs,
            )

    def run_job(
        self, name: str, selection: list[dg.AssetKey] | None = None, instance=None
    ) -> dg.ExecuteInProcessResult:
        """One of the other jobs (the metric series, the board, the digest), or `selection` of
        its assets, on `instance` if given, else on a throwaway one."""
        with ExitStack() as stack:
            instance = instance or stack.enter_context(dg.DagsterInstance.ephemeral())
            return self.defs.resolve_job_def(name).execute_in_process(
                instance=instance, raise_on_error=False, asset_selection=selection
            )

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.settings.duckdb_path), read_only=True) as con:
            return con.execute(sql).fetchall()


def build_platform(source_dir: Path, workdir: Path, **environment: str) -> Platform:
    from calback_platform.definitions import build_definitions

    settings = load_settings(
        {
            "CALBACK_SOURCE_DIR": str(source_dir),
            "CALBACK_DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
            "CALBACK_GA4_QUIET_DAYS": declared_quiet_days(source_dir),
            **environment,
        }
    )
    return Platform(settings=settings, defs=build_definitions(settings))


@pytest.fixture
def platform(demo_dir: Path, tmp_path: Path) -> Platform:
    """A platform over a private copy of the demo source, so a test may edit its files."""
    source = tmp_path / "source"
    shutil.copytree(demo_dir, source)
    return build_platform(source, tmp_path)


MARTS_DAYS = 30


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """3,000 users over 30 days, every asset materialized in one single-run backfill: the marts,
    the metric series and the tests that read them share it (once per xdist worker)."""
    root = tmp_path_factory.mktemp("marts")
    truth = generate(small_config(root / "source", users=3000, days=MARTS_DAYS, bad_share=0.002))
    platform = build_platform(root / "source", root)
    days = sorted(truth["ga4"]["final"])
    assert platform.run(first=days[0], last=days[-1]).success
    assert platform.run_job(METRICS_JOB, selection=[METRICS_ASSET]).success
    return platform, truth
