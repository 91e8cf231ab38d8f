"""dbt models as assets: incremental models partitioned by day, the rest and snapshots not.

Two `@dbt_assets` split by selector (as in dagster-open-platform), so only truly incremental
models are partitioned and receive the window as `--vars {min_date, max_date}`.
"""

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from calback_platform.dbt_child import dbt_path
from calback_platform.partitions import window_dates
from calback_platform.settings import DBT_PROJECT_DIR, Settings

INCREMENTAL = "config.materialized:incremental"


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()
    return project


def dbt_executable() -> str:
    """dbt as runs start it: through `calback-dbt`, so dbt ends with its run worker."""
    guarded = Path(sys.executable).with_name("calback-dbt")
    return str(guarded) if guarded.exists() else dbt_path()


def prepare_manifest() -> Path:
    """Parse the dbt project into its manifest now, so it matches the project as it is.
    dagster-dbt's preparer runs `dbt` from PATH: this Python's own directory goes first."""
    here = str(Path(sys.executable).parent)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{here}{os.pathsep}{os.environ.get('PATH', '')}"
    project = dbt_project()
    project.preparer.prepare(project)
    return project.manifest_path


class DailyLineageTranslator(DagsterDbtTranslator):
    """Incremental models also depend directly on the daily sources they read through views.

    A backfill launched from the UI (Dagster 1.13, `AssetBackfillData.from_asset_partitions`)
    targets only the partitioned assets it reaches from the partitioned roots through
    partitioned assets: `fct_events`, behind the `stg_ga4__events` view, was silently left out
    and the marts below it ran first. The direct edge is true (the view only renames) and puts
    every incremental model in the backfill.
    """

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id)
        if not node or node["config"].get("materialized") != "incremental":
            return spec
        sources = _sources_read_through_views(manifest, unique_id)
        extra = [self.get_asset_spec(manifest, source, project).key for source in sources]
        return spec.merge_attributes(deps=[key for key in extra if key not in spec.deps])


def _sources_read_through_views(manifest: Mapping[str, Any], unique_id: str) -> set[str]:
    """dbt sources a model reaches through non-incremental models (which it reads whole)."""
    found: set[str] = set()
    seen: set[str] = set()
    queue = [
        parent
        for parent in manifest["nodes"][unique_id]["depends_on"]["nodes"]
        if parent.startswith("model.")
    ]
    while queue:
        unique_id = queue.pop()
        node = manifest["nodes"][unique_id]
        if unique_id in seen or node["config"].get("materialized") == "incremental":
            continue
        seen.add(unique_id)
        for parent in node["depends_on"]["nodes"]:
            if parent.startswith("source."):
                found.add(parent)
            elif parent.startswith("model."):
                queue.append(parent)
    return found


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
    if not settings.is_local:
        values |= {
            "GOOGLE_CLOUD_PROJECT": settings.gcp_project,
            "BIGQUERY_DATASET": settings.bigquery_dataset,
            "BIGQUERY_LOCATION": settings.bigquery_location,
        }
    if settings.is_local:
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)  # dbt-duckdb will not
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

    translator = DailyLineageTranslator()

    @dbt_assets(
        manifest=manifest,
        select=INCREMENTAL,
        name="dbt_incremental_models",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        dagster_dbt_translator=translator,
        project=dbt_project(),
        pool=pool,
    )
    def dbt_incremental_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        with dbt_environment(settings):
            variables = window_vars(*window_dates(context))
            yield from dbt.cli(build_args(variables), context=context).stream()

    @dbt_assets(
        manifest=manifest,
        exclude=INCREMENTAL,
        name="dbt_models",
        dagster_dbt_translator=translator,
        project=dbt_project(),
        pool=pool,
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        with dbt_environment(settings):
            yield from dbt.cli(build_args(), context=context).stream()

    return [dbt_incremental_models, dbt_models]
