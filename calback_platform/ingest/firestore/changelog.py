"""The Firestore changelog: what a read of a collection appends, whichever warehouse keeps it.

Each collection has `raw_firestore.<stem>_raw_changelog` (every version of every document, a
DELETE row when one goes), `<stem>_raw_latest` (a view: each document's latest row) and
`<stem>_quarantine` (records that could not be read, as they came).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg
import pyarrow as pa

# One row per change of a document: `data` is the document after it (NULL for a DELETE),
# `old_data` before it; `_loaded_at` is the read that saw it.
CHANGELOG_SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("event_id", pa.string()),
        ("document_name", pa.string()),
        ("operation", pa.string()),  # IMPORT (the first read), CREATE, UPDATE or DELETE
        ("data", pa.string()),
        ("old_data", pa.string()),
        ("document_id", pa.string()),
        ("_loaded_at", pa.timestamp("us", tz="UTC")),
    ]
)
# A record that could not be read, kept as it came (`raw_record`) with the reason.
QUARANTINE_SCHEMA = pa.schema(
    [
        ("record_ref", pa.string()),
        ("reason", pa.string()),
        ("raw_record", pa.string()),
        ("_loaded_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class CollectionTables:
    """The warehouse tables of one collection, by its table stem."""

    stem: str

    @property
    def changelog(self) -> str:
        return f"raw_firestore.{self.stem}_raw_changelog"

    @property
    def latest(self) -> str:
        return f"raw_firestore.{self.stem}_raw_latest"

    @property
    def quarantine(self) -> str:
        return f"raw_firestore.{self.stem}_quarantine"


@dataclass
class FirestoreLoadStats:
    documents_read: int = 0
    quarantined: Counter = field(default_factory=Counter)
    changes: Counter = field(default_factory=Counter)
    live_documents: int = 0
    # The document fields the read saw -> their JSON types ("|"-joined when several).
    schema: dict[str, str] = field(default_factory=dict)


def latest_versions_sql(changelog: str) -> str:
    """Each document's latest row in a changelog: what the document is now (a DELETE if gone).
    The `_raw_latest` view is this query; every reader (the next read, the purge, dbt) uses the
    view. (`where true`: BigQuery takes QUALIFY only beside a WHERE.)"""
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


class FirestoreChangelog(dg.ConfigurableResource, ABC):
    """Keeps the changelogs in a warehouse: DuckDB locally, BigQuery in prod. Which one runs is
    chosen where the resources are built."""

    @abstractmethod
    def watermark(self, tables: CollectionTables) -> datetime | None:
        """Newest `updatedAt` already in the changelog, if any."""

    @abstractmethod
    def apply_read(
        self,
        tables: CollectionTables,
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
    def deleted_names(self, tables: CollectionTables) -> set[str]:
        """The documents whose latest change in the changelog is a DELETE."""
