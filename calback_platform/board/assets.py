"""The board as two assets after the metric series:

- `board/export` writes the data-health tables and, locally, copies every table the board reads
  into a DuckDB file of its own (in the storage format Evidence's DuckDB reads). It is the only
  board step that touches the warehouse, so it alone takes the warehouse pool.
- `board/site` builds the Evidence pages from that copy (in prod, from BigQuery) and publishes
  them; a build in progress never holds the warehouse, and a failed build leaves the served
  board as it was.
"""

import shutil
from datetime import datetime, timezone

import dagster as dg

from calback_platform.assets.ab_tests import (
    AB_TEST_DECISIONS,
    AB_TEST_INTERACTIONS,
    AB_TEST_RESULTS,
)
from calback_platform.assets.metrics import METRIC_DEFINITIONS, METRIC_VALUES, METRICS_ASSET
from calback_platform.assets.revisit import EVALUATION_TABLE, IMPORTANCES_TABLE, SCORES_TABLE
from calback_platform.board.health import (
    CHECKS_TABLE,
    SOURCES_TABLE,
    check_health,
    source_health,
    sources,
)
from calback_platform.board.site import pages, prepare_build_dir, publish, run_evidence
from calback_platform.settings import Settings
from calback_platform.warehouse.base import Warehouse
from calback_platform.warehouse.duckdb import DuckDBWarehouse

BOARD_EXPORT = dg.AssetKey(["board", "export"])
BOARD_SITE = dg.AssetKey(["board", "site"])
FREQUENT_VISITOR_BEHAVIORS = "marts.frequent_visitor_behaviors"
REVISIT_TABLES = (EVALUATION_TABLE, IMPORTANCES_TABLE, SCORES_TABLE)
# Every table the board's source queries (board/sources/warehouse/*.sql) read.
BOARD_TABLES = (
    METRIC_VALUES,
    METRIC_DEFINITIONS,
    AB_TEST_RESULTS,
    AB_TEST_DECISIONS,
    AB_TEST_INTERACTIONS,
    FREQUENT_VISITOR_BEHAVIORS,
    *REVISIT_TABLES,
    SOURCES_TABLE,
    CHECKS_TABLE,
)
# The newest storage format Evidence's DuckDB (@duckdb/node-api 1.4) opens.
EXPORT_STORAGE_VERSION = "v1.4.0"


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def build_board_assets(
    settings: Settings, pool: str | None, check_keys: list[dg.AssetCheckKey]
) -> list[dg.AssetsDefinition]:
    """The board's two assets; `check_keys`: every check of the platform, for data health."""
    export_path = settings.board_dir / "board.duckdb"
    board_pages = [f"{settings.board_url}/{page}" for page in pages()]

    @dg.asset(
        key=BOARD_EXPORT,
        deps=[
            METRICS_ASSET,
            *(_key(table) for table in (AB_TEST_RESULTS, AB_TEST_DECISIONS, AB_TEST_INTERACTIONS)),
            _key(FREQUENT_VISITOR_BEHAVIORS),
            *(_key(table) for table in REVISIT_TABLES),
            *(_key(source.table) for source in sources()),
        ],
        group_name="board",
        pool=pool,
        kinds={"duckdb" if settings.is_local else "bigquery"},
        description=(
            f"The board's data: the data-health tables ({SOURCES_TABLE}: each source's last "
            f"load and quarantined records; {CHECKS_TABLE}: each asset check's latest result) "
            "and, locally, a copy of every table the board reads in a DuckDB file of its own, "
            "so the board never reads the warehouse a run is writing."
        ),
    )
    def export(context: dg.AssetExecutionContext, warehouse: Warehouse):
        source_rows = source_health(warehouse)
        warehouse.replace_table(SOURCES_TABLE, source_rows)
        check_rows = check_health(context.instance, check_keys)
        warehouse.replace_table(CHECKS_TABLE, check_rows)
        failed = check_rows[~check_rows["passed"].fillna(True)]
        context.log.info(
            f"{len(source_rows)} sources, {int(source_rows['quarantined'].sum())} quarantined "
            f"records; {len(check_rows)} checks evaluated, {len(failed)} failing"
        )
        metadata = {
            "quarantined_records": int(source_rows["quarantined"].sum()),
            "checks_evaluated": len(check_rows),
            "checks_failing": len(failed),
            "board": dg.MetadataValue.url(settings.board_url),
        }
        if isinstance(warehouse, DuckDBWarehouse):
            counts = warehouse.copy_tables(BOARD_TABLES, export_path, EXPORT_STORAGE_VERSION)
            context.log.info(f"Copied {len(counts)} tables to {export_path}")
            metadata["path"] = dg.MetadataValue.path(str(export_path))
            metadata["tables"] = dg.MetadataValue.md(
                "| table | rows |\n|---|---|\n"
                + "\n".join(f"| {table} | {rows:,} |" for table, rows in counts.items())
            )
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        key=BOARD_SITE,
        deps=[BOARD_EXPORT],
        group_name="board",
        kinds={"evidence"},
        description=(
            f"The board ({settings.board_url}): the Evidence pages in board/, built from the "
            "board's data and published as a whole; served by `make board` (and `make dev`)."
        ),
    )
    def site(context: dg.AssetExecutionContext):
        started = datetime.now(timezone.utc)
        work = settings.board_dir / "builds" / context.run.run_id
        prepare_build_dir(work, settings, export_path)
        try:
            sources_seconds = run_evidence(work, "sources --strict", context.log.info)
            build_seconds = run_evidence(work, "build:strict", context.log.info)
            name = f"{started:%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"
            published = publish(work / "build", settings.board_dir, name)
        finally:
            shutil.rmtree(work)
        size = sum(path.stat().st_size for path in published.rglob("*") if path.is_file())
        context.log.info(f"Published the board at {published}; served at {settings.board_url}")
        return dg.MaterializeResult(
            metadata={
                "board": dg.MetadataValue.url(settings.board_url),
                "pages": dg.MetadataValue.md("\n".join(f"- {url}" for url in board_pages)),
                "sources_seconds": round(sources_seconds, 1),
                "build_seconds": round(build_seconds, 1),
                "size_mb": round(size / 1e6, 1),
                "site": dg.MetadataValue.path(str(published)),
            }
        )

    return [export, site]
