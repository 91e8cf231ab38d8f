"""The board's data-health tables: when each source last landed and what it quarantined
(`ops.board_sources`), and the latest result of every asset check (`ops.board_checks`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from calback_platform.ingest.firestore.changelog import CollectionTables
from calback_platform.ingest.firestore.source import COLLECTION_TABLES
from calback_platform.ingest.ga4.duckdb import EVENTS, QUARANTINE
from calback_platform.ingest.sheets.asset import QUARANTINE as SPEND_QUARANTINE
from calback_platform.ingest.sheets.asset import TABLE as SPEND
from calback_platform.warehouse.base import Warehouse

SOURCES_TABLE = "ops.board_sources"
CHECKS_TABLE = "ops.board_checks"


@dataclass(frozen=True)
class Source:
    name: str
    table: str
    quarantine: str


def sources() -> list[Source]:
    collections = {name: CollectionTables(stem) for name, stem in COLLECTION_TABLES.items()}
    firestore = [
        Source(f"Firestore {name}", tables.changelog, tables.quarantine)
        for name, tables in collections.items()
    ]
    return [
        Source("GA4 export", EVENTS, QUARANTINE),
        *firestore,
        Source("Ad spend sheet", SPEND, SPEND_QUARANTINE),
    ]


def source_health(warehouse: Warehouse) -> pd.DataFrame:
    """One row per source: its rows, when it last landed, and its quarantined records. A source
    that never landed has a row too, with no load time, so the board shows it as missing."""
    rows = []
    for source in sources():
        landed = warehouse.has_table(source.table)
        quarantined = warehouse.has_table(source.quarantine)
        count, last_loaded_at = (
            warehouse.query(f"select count(*), max(_loaded_at) from {source.table}")[0]
            if landed
            else (0, None)
        )
        quarantine_count, last_quarantined_at = (
            warehouse.query(f"select count(*), max(_loaded_at) from {source.quarantine}")[0]
            if quarantined
            else (0, None)
        )
        rows.append(
            {
                "source": source.name,
                "raw_table": source.table,
                "rows": count,
                "last_loaded_at": last_loaded_at,
                "quarantined": quarantine_count,
                "quarantine_table": source.quarantine,
                "last_quarantined_at": last_quarantined_at,
            }
        )
    frame = pd.DataFrame(rows)
    for column in ("last_loaded_at", "last_quarantined_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def check_health(instance: dg.DagsterInstance, check_keys: list[dg.AssetCheckKey]) -> pd.DataFrame:
    """The latest evaluation of every asset check: passed or failed, its severity, when. A
    check that never ran has no row (nothing failed)."""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    rows = []
    for key, record in sorted(latest.items(), key=lambda item: item[0].to_user_string()):
        entry = record.event
        if entry is None or entry.dagster_event is None:  # planned, not evaluated yet
            continue
        evaluation = entry.dagster_event.event_specific_data
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue
        rows.append(
            {
                "asset": key.asset_key.to_user_string(),
                "check_name": key.name,
                "passed": evaluation.passed,
                "severity": evaluation.severity.value,
                "partition": record.partition,
                "evaluated_at": datetime.fromtimestamp(entry.timestamp, timezone.utc),
                "description": evaluation.description or "",
            }
        )
    columns = [
        "asset",
        "check_name",
        "passed",
        "severity",
        "partition",
        "evaluated_at",
        "description",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["passed"] = frame["passed"].astype("boolean")
    frame["evaluated_at"] = pd.to_datetime(frame["evaluated_at"], utc=True)
    return frame
