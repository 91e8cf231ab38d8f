"""dbt models as assets: incremental models partitioned by day, the rest and snapshots not.

Two `@dbt_assets` split by selector (as in dagster-open-platform), so only truly incremental
models are partitioned and receive the window as `--vars {min_date, max_date}`.

Each materialization carries its row count and column schema, each asset
its owners, the warehouse dbt runs on as its kind, and a link to its SQL file.
"""

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from calback_platform.dbt_child import dbt_path
from calback_platform.partitions import window_dates
from calback_platform.settings import DBT_PROJECT_DIR, Settings

INCREMENTAL = "config.materialized:incremental"
# Owners of a dbt asset whose dbt config names none (`meta: {dagster: {owners: [...]}}`).
DEFAULT_OWNERS = ["team:data"]


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
    """dbt assets with owners, code references and, given `warehouse`, that warehouse as kind.

    `warehouse` replaces the adapter the manifest was parsed with (whatever target prepared
    it) in the kinds and storage kind, so they name the warehouse the runs use.

    Incremental models also depend directly on the daily sources they read through views.

    A backfill launched from the UI (Dagster 1.13, `AssetBackfillData.from_asset_partitions`)
    targets only the partitioned assets it reaches from the partitioned roots through
    partitioned assets: `fct_events`, behind the `stg_ga4__events` view, was silently left out
    and the marts below it ran first. The direct edge is true (the view only renames) and puts
    every incremental model in the backfill.
    """

    def __init__(self, warehouse: str | None = None):
        # Code references: each asset links to its model's SQL file, by its local path.
        super().__init__(DagsterDbtTranslatorSettings(enable_code_references=True))
        self.warehouse = warehouse

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        # Not in dbt_project.yml: dbt merges `meta` one level deep only, so each folder's
        # `dagster: {group: ...}` (and each seed's in _seeds.yml) would replace its owners.
        return super().get_owners(dbt_resource_props) or DEFAULT_OWNERS

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if self.warehouse:
            spec = spec.replace_attributes(kinds={"dbt", self.warehouse}).merge_attributes(
                metadata={"dagster/storage_kind": self.warehouse}
            )
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


def dbt_environment(settings: Settings) -> dict[str, str]:
    """The variables the dbt profile reads, resolved by settings.

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
    return values


@contextmanager
def environment_of_this_call(values: Mapping[str, str]) -> Iterator[None]:
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


def start_dbt(
    dbt: DbtCliResource, args: list[str], context: dg.AssetExecutionContext, settings: Settings
) -> DbtCliInvocation:
    """Start dbt with the environment settings resolve.

    dagster-dbt 0.29's `cli()` takes no environment: before it returns, it copies os.environ
    for the dbt subprocess, renders the profile for its own adapter (the row counts and column
    queries) and reads DBT_INDIRECT_SELECTION. So the variables are set for that call only, not
    while dbt runs.
    """
    if settings.is_local:
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)  # dbt-duckdb will not
    with environment_of_this_call(dbt_environment(settings)):
        invocation = dbt.cli(args, context=context)
    adapter = invocation.adapter
    if adapter is not None and adapter.type() == "duckdb":
        # dbt-duckdb keeps its file open by default: once read, this process would hold it
        # (read-only) after the step, and the next writer, in it or in dbt, would fail.
        adapter.config.credentials.keep_open = False
    return invocation


def dbt_events(invocation: DbtCliInvocation) -> Iterator:
    """The run's events, each model's row count (views excepted: counting one runs its query)
    and column schema added. Not column lineage: it costs a daily run's dbt steps 7.6 s more
    on the demo, against 3.3 s without it. On DuckDB they are read once dbt has finished and
    released the file."""
    if invocation.adapter is not None and invocation.adapter.type() == "duckdb":
        # dagster-dbt waits for dbt's end on DuckDB anyway, but in a loop that polls without
        # sleeping: a core busy for the whole dbt run, taken from dbt. This waits blocked, and
        # keeps dbt's output for `stream()` (its log lines reach stdout at the end).
        invocation.is_successful()
    return invocation.stream().fetch_row_counts().fetch_column_metadata(with_column_lineage=False)


def build_dbt_assets(
    settings: Settings,
    partitions_def: dg.PartitionsDefinition,
    pool: str | None,
    warehouse_kind: str,
) -> list[dg.AssetsDefinition]:
    """`warehouse_kind`: the warehouse dbt builds in (the warehouse resource's kind)."""
    manifest = dbt_project().manifest_path
    translator = DailyLineageTranslator(warehouse_kind)

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
        variables = window_vars(*window_dates(context))
        yield from dbt_events(start_dbt(dbt, build_args(variables), context, settings))

    @dbt_assets(
        manifest=manifest,
        exclude=INCREMENTAL,
        name="dbt_models",
        dagster_dbt_translator=translator,
        project=dbt_project(),
        pool=pool,
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt_events(start_dbt(dbt, build_args(), context, settings))

    return [dbt_incremental_models, dbt_models]
