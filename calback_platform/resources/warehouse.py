"""The warehouse interface every asset writes through: DuckDB locally, BigQuery in prod.

Implementations keep DESIGN section 5's promise: a partitioned write replaces exactly its window in
one transaction, so re-running a partition is always safe and a killed run leaves the old data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa

from calback_platform.resources.ga4_source import GA4Export


@dataclass
class Ga4LoadStats:
    source_lines: int = 0
    rows: int = 0
    duplicates: int = 0
    quarantined: Counter = field(default_factory=Counter)
    rows_by_day: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    # Consent-mode pings: events without a device id, landed but no user's.
    cookieless_events: int = 0
    # Values at known fields that their type cannot hold (kept in events_rejected_values).
    rejected_values: int = 0
    # Top-level fields that hold what the schema does not know (kept in _unknown_fields).
    unknown_fields: set[str] = field(default_factory=set)
    # What the export looked like: every field path, event name and parameter key -> its kinds.
    schema: dict[str, str] = field(default_factory=dict)


@dataclass
class FirestoreLoadStats:
    documents_read: int = 0
    quarantined: Counter = field(default_factory=Counter)
    changes: Counter = field(default_factory=Counter)
    live_documents: int = 0
    # The document fields the read saw -> their JSON types ("|"-joined when several).
    schema: dict[str, str] = field(default_factory=dict)


def raise_corrupt_export(
    day: date, lines: int, bad: int, max_bad_share: float, first_bad: tuple
) -> None:
    source_file, line_number, reason, line = first_bad
    raise dg.Failure(
        description=(
            f"The GA4 export for {day} looks corrupt: {bad} of {lines} lines "
            f"({bad / lines:.0%}) are unusable, above the policy's {max_bad_share:.0%} "
            "(config max_bad_share); nothing was replaced.\n"
            f"First unusable line, {Path(source_file).name}:{line_number} ({reason}):\n{line}"
        ),
        metadata={"day": day.isoformat(), "lines": lines, "unusable_lines": bad},
    )


class Warehouse(dg.ConfigurableResource, ABC):
    @abstractmethod
    def load_ga4_window(
        self, export: GA4Export, days: list[date], max_bad_share: float = 1.0
    ) -> Ga4LoadStats:
        """Replace `raw_ga4.events` (and its quarantine) for exactly these export days.

        A day with more than `max_bad_share` of its lines unusable is taken for a corrupt
        export: nothing is replaced and the load fails (raise_corrupt_export).
        """

    @abstractmethod
    def firestore_watermark(self, table: str) -> datetime | None:
        """Newest `updatedAt` already in `raw_firestore.<table>_raw_changelog`, if any."""

    @abstractmethod
    def apply_firestore_read(
        self,
        table: str,
        pages: Iterable[pa.RecordBatch],
        present_names: Iterable[pa.RecordBatch] | None = None,
    ) -> FirestoreLoadStats:
        """Append the changes a read shows to the changelog; quarantine unusable records.

        `present_names` lists every document that exists when `pages` is only the changed ones;
        without it `pages` is a full read. Either way documents missing from it are deleted.
        """

    @abstractmethod
    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        """Run a read-only query and return its rows (checks, metadata, tests)."""

    @abstractmethod
    def query_frame(self, sql: str) -> pd.DataFrame:
        """Run a read-only query and return its result as a DataFrame."""

    @abstractmethod
    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        """Replace `schema.table` with `frame` in one transaction; returns the row count."""

    def preview(self, sql: str) -> dg.MetadataValue:
        """A query's first rows as Markdown, for asset metadata."""
        frame = self.query_frame(sql)
        return dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "(no rows)")
