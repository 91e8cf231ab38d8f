"""The warehouse interface every asset writes through: DuckDB locally, BigQuery in prod.

Implementations keep DESIGN section 5's promise: a partitioned write replaces exactly its window in
one transaction, so re-running a partition is always safe and a killed run leaves the old data.
"""

from __future__ import annotations

import statistics
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
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


@dataclass(frozen=True)
class Ga4DayPolicy:
    """When a day's GA4 export is taken for broken: the load fails and replaces nothing, for
    a re-run once the export is fixed (or with the policy relaxed, if the day is right)."""

    # Unusable lines above this share of a day's lines.
    max_bad_share: float = 1.0
    # Usable lines below this share of the median of the days before it (RECENT_DAYS of them,
    # at least MIN_RECENT_DAYS). An empty day always fails.
    min_day_share: float = 0.0
    # Days known to be quiet (an outage): neither of the rules above on volume applies.
    expected_low_days: frozenset[date] = frozenset()

    RECENT_DAYS = 7
    MIN_RECENT_DAYS = 3

    def too_many_bad(self, lines: int, bad: int) -> bool:
        return bool(lines) and bad / lines > self.max_bad_share

    def refuse_corrupt(self, day: date, lines: int, bad: int, first_bad: tuple) -> None:
        source, line_number, reason, line = first_bad
        where = f"{Path(source).name}:{line_number}" if line_number else Path(source).name
        raise dg.Failure(
            description=(
                f"The GA4 export for {day} looks corrupt: {bad} of {lines} lines "
                f"({bad / lines:.0%}) are unusable, above the policy's {self.max_bad_share:.0%} "
                "(config max_bad_share); nothing was replaced.\n"
                f"First unusable line, {where} ({reason}):\n{line}"
            ),
            metadata={"day": day.isoformat(), "lines": lines, "unusable_lines": bad},
        )

    def check_volumes(self, usable: dict[date, int], before: dict[date, int]) -> None:
        """Each day of a window against the days before it: those of the window (`usable`,
        its usable lines) and those already landed (`before`, their events)."""
        known = before | usable
        for day in sorted(usable):
            recent = [
                known[other]
                for other in sorted(known)
                if day - timedelta(days=self.RECENT_DAYS) <= other < day
            ]
            self.check_volume(day, usable[day], recent)

    def check_volume(self, day: date, usable: int, recent: list[int]) -> None:
        """`recent`: the usable events of the days before `day`."""
        if day in self.expected_low_days:
            return
        if not usable:
            self._refuse(day, "has no events", usable)
        recent = recent[-self.RECENT_DAYS :]
        if len(recent) < self.MIN_RECENT_DAYS:
            return
        typical = statistics.median(recent)
        if usable < self.min_day_share * typical:
            self._refuse(
                day,
                f"has {usable} events, {usable / typical:.0%} of the {typical:,.0f} of a recent "
                f"day (median of the {len(recent)} days before), below the policy's "
                f"{self.min_day_share:.0%} (config min_day_share)",
                usable,
            )

    @staticmethod
    def check_whole(day: date, cut_file: str) -> None:
        raise dg.Failure(
            description=(
                f"The GA4 export for {day} looks cut short: {Path(cut_file).name} ends inside "
                "a line (its last line has no newline and is not whole JSON), as a copy or "
                "export stopped midway leaves it; nothing was replaced. Run the day again once "
                "the file is complete."
            ),
            metadata={"day": day.isoformat(), "file": Path(cut_file).name},
        )

    @staticmethod
    def _refuse(day: date, what: str, usable: int) -> None:
        raise dg.Failure(
            description=(
                f"The GA4 export for {day} {what}; nothing was replaced. A failed or partial "
                "export looks like this. If the day really was quiet (an outage), run it with "
                f"the day in config expected_low_days: ['{day}']."
            ),
            metadata={"day": day.isoformat(), "usable_lines": usable},
        )


# Loads any day but an empty one: for loads outside a run (tests, benchmarks).
LOAD_EVERY_DAY = Ga4DayPolicy()


def latest_versions_sql(changelog: str) -> str:
    """Each document's latest row in a changelog: what the document is now (a DELETE if gone).
    (`where true`: BigQuery takes QUALIFY only beside a WHERE.)"""
    return f"""select * from {changelog} where true
    qualify row_number() over (
        partition by document_name order by _loaded_at desc, timestamp desc) = 1"""


# How many live documents a read would delete: those of the latest versions (`latest`) that the
# read's list of present documents (`present`) no longer holds. Both warehouses run it.
FIRESTORE_DELETES_SQL = """
    select count(*) as live, count(*) - count(present.document_name) as deletes
    from {latest} as latest
    left join (select distinct document_name from {present} where document_name is not null)
        as present using (document_name)
    where latest.operation <> 'DELETE'"""


def refuse_mass_delete(table: str, live: int, deletes: int, max_delete_share: float) -> None:
    """A read that would delete more than `max_delete_share` of a collection's live documents
    (all of them, when it comes back empty) looks like a failed or mistaken export, not like
    what users did: it fails and records nothing."""
    if deletes and deletes > max_delete_share * live:
        raise dg.Failure(
            description=(
                f"The Firestore read of {table} would delete {deletes} of its {live} live "
                f"documents ({deletes / live:.0%}), above the policy's {max_delete_share:.0%} "
                "(config max_delete_share); nothing was recorded. An empty or partial export, "
                "a wrong collection name or lost read rights look like this. If the documents "
                "really are gone, run again with max_delete_share: 1.0."
            ),
            metadata={"live_documents": live, "would_delete": deletes},
        )


@dataclass(frozen=True)
class PersonalData:
    """Where a collection's personal fields live in the warehouse, for purging them."""

    changelog: str  # raw_firestore.<stem>_raw_changelog: the fields inside `data`, `old_data`
    fields: tuple[str, ...]
    quarantine: str  # raw_firestore.<stem>_quarantine: damaged records, kept as they came
    # Tables that copy a field, keyed by the document id: (table, key column, columns).
    copies: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


def removed_fields_sql(json: str, fields: tuple[str, ...]) -> str:
    """`json` without these top-level fields, one json_remove each (DuckDB takes a single path,
    BigQuery any number)."""
    for name in fields:
        json = f"""json_remove({json}, '$."{name}"')"""
    return json


# Text that is an email address or a phone number (international, or Korean 0xx-xxxx-xxxx).
PLAIN_PERSONAL_DATA = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": r"\+\d{1,3}[ -]\d{1,4}[ -]\d{3,4}[ -]\d{4}"
    r"|(^|[^0-9A-Za-z])0\d{1,2}-\d{3,4}-\d{4}($|[^0-9A-Za-z])",  # not inside a uuid
}


class Warehouse(dg.ConfigurableResource, ABC):
    @abstractmethod
    def load_ga4_window(
        self, export: GA4Export, days: list[date], policy: Ga4DayPolicy = LOAD_EVERY_DAY
    ) -> Ga4LoadStats:
        """Replace `raw_ga4.events` (and its quarantine) for exactly these export days.

        A day the policy takes for a broken export fails the load, and nothing is replaced.
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
        max_delete_share: float = 1.0,
    ) -> FirestoreLoadStats:
        """Append the changes a read shows to the changelog; quarantine unusable records.

        `present_names` lists every document that exists when `pages` is only the changed ones;
        without it `pages` is a full read. Either way documents missing from it are deleted,
        unless they are more than `max_delete_share` of the live ones (refuse_mass_delete).
        """

    @abstractmethod
    def firestore_deleted_names(self, table: str) -> set[str]:
        """The documents whose latest change in the changelog is a DELETE."""

    @abstractmethod
    def purge_personal_data(self, personal: PersonalData, before: datetime) -> dict[str, int]:
        """Remove the personal fields of the documents deleted before `before` from every row
        of their history and from the tables that copy them, and the text of damaged records
        kept since before then; returns the rows changed by table. Purged rows stay purged, so
        a second purge changes nothing."""

    @abstractmethod
    def find_plain_personal_data(self, allowed: set[str]) -> list[tuple[str, str, int]]:
        """(table, kind, rows) for each table outside `allowed` and the GA4 export whose text
        holds an email address or phone number in plain (PLAIN_PERSONAL_DATA)."""

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
