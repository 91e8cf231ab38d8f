"""dbt models as assets: everything built from the daily GA4 export is partitioned by day.

`@dbt_assets` split by selector (as in dagster-open-platform). The daily set is every model
downstream of the GA4 source: its incremental models replace exactly the run's window, passed as
`--vars {min_date, max_date}`; its views and tables ignore the window and are rebuilt whole.
They are partitioned all the same because Dagster 1.13's asset backfill launches unpartitioned
assets that sit below a partial partition range as backfill roots, in its first tick, before the
daily facts they read exist (measured: a UI backfill built `dim_user_devices` before
`fct_events`). Firestore-only models and snapshots stay unpartitioned.
"""

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from calback_platform.partitions import window_dates
from calback_platform.settings import DBT_PROJECT_DIR, Settings

DAILY = "source:raw_ga4+"
SNAPSHOTS = "resource_type:snapshot"


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()
    return project


def dbt_executable() -> str:
    """The dbt installed beside this Python, so an un-activated virtualenv works too."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def window_vars(start: date, end: date) -> dict[str, str]:
    """dbt's window vars for the Seoul days [start, end)."""
    return {"min_date": start.isoformat(), "max_date": end.isoformat()}


def build_args(variables: dict[str, str] | None = None) -> list[str]:
    args = ["build"]
    if variables:
        args += ["--vars", json.dumps(variables, sort_keys=True)]
    return args


@contextmanager
def dbt_environment(settings: Settings) -> Iterator[None]:
    """The profile's variables, resolved by settings, for the dbt subprocess this step starts.

    Tests run with a step only when every model they read is built by then ("buildable"): the
    graph is built in several steps, and eager selection would test a model not yet built.
    """
    values = {
        "CALBACK_ENV": settings.env,
        "CALBACK_DUCKDB_PATH": str(settings.duckdb_path),
        "DBT_INDIRECT_SELECTION": "buildable",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_dbt_assets(
    settings: Settings, partitions_def: dg.PartitionsDefinition, pool: str | None
) -> list[dg.AssetsDefinition]:
    manifest = dbt_project().manifest_path

    @dbt_assets(
        manifest=manifest,
        select=DAILY,
        name="dbt_daily_models",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        project=dbt_project(),
        pool=pool,
    )
    def dbt_daily_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        with dbt_environment(settings):
            yield from dbt.cli(
                build_args(window_vars(*window_dates(context))), context=context
            ).stream()

    @dbt_assets(
        manifest=manifest,
        exclude=f"{DAILY} {SNAPSHOTS}",
        name="dbt_models",
        project=dbt_project(),
        pool=pool,
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        with dbt_environment(settings):
            yield from dbt.cli(build_args(), context=context).stream()

    @dbt_assets(
        manifest=manifest,
        select=SNAPSHOTS,
        name="dbt_snapshots",
        project=dbt_project(),
        pool=pool,
    )
    def dbt_snapshots(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        with dbt_environment(settings):
            yield from dbt.cli(build_args(), context=context).stream()

    return [dbt_daily_models, dbt_models, dbt_snapshots]
