"""dbt models as assets: incremental models partitioned by day, the rest and snapshots not.

Three `@dbt_assets` split by selector (as in dagster-open-platform), so only truly incremental
models are partitioned and receive the window as `--vars {min_date, max_date}`.
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

INCREMENTAL = "config.materialized:incremental"
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
        select=INCREMENTAL,
        name="dbt_incremental_models",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        project=dbt_project(),
        pool=pool,
    )
    def dbt_incremental_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        with dbt_environment(settings):
            yield from dbt.cli(
                build_args(window_vars(*window_dates(context))), context=context
            ).stream()

    @dbt_assets(
        manifest=manifest,
        exclude=f"{INCREMENTAL} {SNAPSHOTS}",
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

    return [dbt_incremental_models, dbt_models, dbt_snapshots]
