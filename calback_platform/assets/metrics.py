"""The metric series: every metric of the semantic layer (dbt_project/models/semantic), queried
through MetricFlow by day, week and month, and by the dimensions its definition says the board
slices it by, into `metrics.metric_values`; the definitions themselves (label, description,
format) into `metrics.metric_definitions`. The board and the Slack digest read these two tables
only, so every number they show comes from the one definition of its metric.
"""

import json
import multiprocessing
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

import dagster as dg
import pandas as pd
import pyarrow as pa

from calback_platform.assets.dbt import dbt_environment, dbt_project, environment_of_this_call
from calback_platform.settings import Settings
from calback_platform.warehouse.base import Warehouse

METRICS_ASSET = dg.AssetKey(["metrics", "metric_values"])
METRICS_JOB = "refresh_metrics"
METRIC_VALUES = "metrics.metric_values"
METRIC_DEFINITIONS = "metrics.metric_definitions"
GRAINS = ("day", "week", "month")
VALUES_SCHEMA = pa.schema(
    [
        ("metric", pa.string()),
        ("grain", pa.string()),
        ("period_start", pa.date32()),
        ("dimension", pa.string()),  # NULL: the metric as a whole
        ("dimension_value", pa.string()),
        ("value", pa.float64()),
    ]
)


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    description: str
    format: str
    # The finest period it can be read by (a funnel is by sign-up week, frequent visitors by
    # month), and the dimensions it is also read by.
    finest_grain: str
    slices: tuple[str, ...]
    # Its place among the headline metrics (the board's front page, the digest), if it is one.
    headline: int | None = None


def read_metrics(semantic_manifest: Path) -> list[Metric]:
    """The metrics as dbt parsed them (target/semantic_manifest.json)."""
    manifest = json.loads(semantic_manifest.read_text())
    grain_of_measure = {}
    for model in manifest["semantic_models"]:
        grains = {
            dimension["name"]: dimension["type_params"]["time_granularity"]
            for dimension in model["dimensions"]
            if dimension["type"] == "time"
        }
        for measure in model["measures"]:
            time_dimension = (
                measure["agg_time_dimension"] or model["defaults"]["agg_time_dimension"]
            )
            grain_of_measure[measure["name"]] = grains[time_dimension]
    metrics = []
    for metric in manifest["metrics"]:
        meta = (metric.get("config") or {}).get("meta") or {}
        measures = [m["name"] for m in metric["type_params"]["input_measures"]]
        metrics.append(
            Metric(
                name=metric["name"],
                label=metric["label"] or metric["name"],
                description=" ".join(metric["description"].split()),
                format=meta.get("format", "count"),
                finest_grain=max((grain_of_measure[m] for m in measures), key=GRAINS.index),
                slices=tuple(meta.get("slices", ())),
                headline=meta.get("headline"),
            )
        )
    return metrics


def semantic_layer_deps(semantic_manifest: Path) -> list[dg.AssetKey]:
    """The models the semantic layer reads (and its time spine), as their assets' keys."""
    manifest = json.loads(semantic_manifest.read_text())
    relations = [model["node_relation"] for model in manifest["semantic_models"]]
    relations += [
        spine["node_relation"] for spine in manifest["project_configuration"]["time_spines"]
    ]
    return sorted({dg.AssetKey([r["schema_name"], r["alias"]]) for r in relations})


def series_queries(metrics: list[Metric]) -> Iterator[tuple[str, str | None, list[str]]]:
    """(grain, dimension or None, metric names): one MetricFlow query each."""
    for grain in GRAINS:
        readable = [m for m in metrics if GRAINS.index(m.finest_grain) <= GRAINS.index(grain)]
        yield grain, None, [m.name for m in readable]
        by_dimension = defaultdict(list)
        for metric in readable:
            for dimension in metric.slices:
                by_dimension[dimension].append(metric.name)
        for dimension, names in sorted(by_dimension.items()):
            yield grain, dimension, names


@contextmanager
def metricflow_engine(settings: Settings) -> Iterator:
    """MetricFlow over the dbt adapter of the target the runs use, with a semantic manifest parsed
    for that target: the tables it queries are named as that target has them (the DuckDB file's
    name, the BigQuery project), not as the manifest prepared for the code location has them."""
    # MetricFlow and dbt take seconds to import: only the metrics run pays for them.
    from dbt.cli.main import dbtRunner
    from dbt_metricflow.cli.cli_configuration import CLIConfiguration
    from dbt_metricflow.cli.dbt_connectors.adapter_backed_client import AdapterBackedSqlClient
    from metricflow.engine.metricflow_engine import MetricFlowEngine
    from metricflow_semantics.model.dbt_manifest_parser import (
        parse_manifest_from_dbt_generated_manifest,
    )
    from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

    project_dir = Path(dbt_project().project_dir)
    with environment_of_this_call(dbt_environment(settings)), TemporaryDirectory() as target:
        paths = ["--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
        parsed = dbtRunner().invoke(
            ["parse", *paths, "--target", settings.dbt_target, "--target-path", target, "--quiet"]
        )
        if not parsed.success:
            raise RuntimeError(f"dbt parse for the semantic layer failed: {parsed.exception}")
        configuration = CLIConfiguration()
        configuration.setup(
            dbt_profiles_path=project_dir,
            dbt_project_path=project_dir,
            configure_file_logging=False,
        )
        manifest = Path(target, "semantic_manifest.json").read_text()
        yield MetricFlowEngine(
            semantic_manifest_lookup=SemanticManifestLookup(
                parse_manifest_from_dbt_generated_manifest(manifest_json_string=manifest)
            ),
            sql_client=AdapterBackedSqlClient(configuration.dbt_artifacts.adapter),
        )


def query_series(engine, grain: str, dimension: str | None, names: list[str]) -> pd.DataFrame:
    """One MetricFlow query, as rows of VALUES_SCHEMA."""
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    time_column = f"metric_time__{grain}"
    group_by = [time_column] + ([dimension] if dimension else [])
    result = engine.query(
        MetricFlowQueryRequest.create(metric_names=names, group_by_names=group_by)
    ).result_df
    frame = pd.DataFrame(list(result.rows), columns=list(result.column_names))
    long = frame.melt(id_vars=group_by, value_vars=names, var_name="metric", value_name="value")
    values = pd.DataFrame(
        {
            "metric": long["metric"],
            "grain": grain,
            "period_start": pd.to_datetime(long[time_column]).dt.date,
            "dimension": pd.Series(dimension, index=long.index, dtype="string"),
            "dimension_value": long[dimension].astype("string") if dimension else pd.NA,
            "value": pd.to_numeric(long["value"], errors="raise").astype("float64"),
        }
    )
    values["dimension_value"] = values["dimension_value"].astype("string")
    return values.dropna(subset=["value"])


def compute_series(settings: Settings, metrics: list[Metric]) -> pd.DataFrame:
    """Every series of every metric, as rows of VALUES_SCHEMA."""
    log = dg.get_dagster_logger()
    parts = []
    with metricflow_engine(settings) as engine:
        for grain, dimension, names in series_queries(metrics):
            frame = query_series(engine, grain, dimension, names)
            by = f"{grain} and {dimension}" if dimension else grain
            log.info(f"{len(names)} metrics by {by}: {len(frame)} values")
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def compute_series_apart(settings: Settings, metrics: list[Metric]) -> pd.DataFrame:
    """compute_series in a process of its own, as dbt runs in one: the dbt adapter MetricFlow
    queries through keeps its connection (DuckDB: the database file) for its process's life."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
        return child.submit(compute_series, settings, metrics).result()


def _typed(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def build_metrics_asset(settings: Settings, pool: str | None) -> dg.AssetsDefinition:
    semantic_manifest = dbt_project().manifest_path.with_name("semantic_manifest.json")
    deps = semantic_layer_deps(semantic_manifest)

    @dg.asset(
        key=METRICS_ASSET,
        deps=deps,
        group_name="metrics",
        pool=pool,
        kinds={"metricflow", "dbt"},
        description=(
            f"Every metric of the semantic layer by day, week and month (and by the dimensions "
            f"its definition slices it by), queried through MetricFlow into {METRIC_VALUES}; "
            f"their definitions in {METRIC_DEFINITIONS}. The board ({settings.board_url}) and "
            "the Slack digest read only these."
        ),
    )
    def metric_values(context: dg.AssetExecutionContext, warehouse: Warehouse):
        metrics = read_metrics(semantic_manifest)
        started = time.perf_counter()
        values = _typed(compute_series_apart(settings, metrics), VALUES_SCHEMA)
        context.log.info(f"{len(values)} values of {len(metrics)} metrics")
        definitions = pd.DataFrame(
            [
                {
                    "metric": m.name,
                    "label": m.label,
                    "description": m.description,
                    "format": m.format,
                    "finest_grain": m.finest_grain,
                    "slices": ",".join(m.slices),
                    "headline": m.headline,
                    "defined_at": datetime.now(timezone.utc),
                }
                for m in metrics
            ]
        )
        definitions["headline"] = definitions["headline"].astype("Int64")
        warehouse.replace_table(METRIC_VALUES, values)
        warehouse.replace_table(METRIC_DEFINITIONS, definitions)
        return dg.MaterializeResult(
            metadata={
                "metrics": len(metrics),
                "values": len(values),
                "dagster/row_count": len(values),
                "seconds": round(time.perf_counter() - started, 1),
                "board": dg.MetadataValue.url(settings.board_url),
                "latest_day": str(values.loc[values["grain"] == "day", "period_start"].max()),
            }
        )

    return metric_values


def build_metrics_job_and_sensor(daily_job, selection: dg.AssetSelection) -> tuple:
    """The metric series and what reads them (the board) are one job, run once after each
    successful daily run (not in each partition or backfill run: they read whole marts, not a
    window)."""
    job = dg.define_asset_job(
        METRICS_JOB,
        selection=selection,
        description="Every metric through MetricFlow into the metrics schema, then the board.",
    )

    @dg.run_status_sensor(
        name="metrics_after_daily_run",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[daily_job],
        request_job=job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Refreshes the metric series and the board after each successful daily run.",
    )
    def metrics_after_daily_run(context: dg.RunStatusSensorContext):
        return dg.RunRequest(run_key=f"metrics-after-{context.dagster_run.run_id}")

    return job, metrics_after_daily_run
