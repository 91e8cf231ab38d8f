"""Personal data in the warehouse: where it lives, how it is removed, what it looks like."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from calback_platform.ingest.firestore.changelog import CollectionTables


@dataclass(frozen=True)
class PersonalData:
    """Where a collection's personal fields live in the warehouse, for purging them."""

    # The collection's changelog (the fields inside `data`, `old_data`) and quarantine
    # (damaged records, kept as they came).
    tables: CollectionTables
    fields: tuple[str, ...]
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


class PersonalDataStore(dg.ConfigurableResource, ABC):
    """Finds and removes personal data in a warehouse: DuckDB locally, BigQuery in prod."""

    @abstractmethod
    def purge(self, personal: PersonalData, before: datetime) -> dict[str, int]:
        """Remove the personal fields of the documents deleted before `before` from every row
        of their history and from the tables that copy them, and the text of damaged records
        kept since before then; returns the rows changed by table. Purged rows stay purged, so
        a second purge changes nothing."""

    @abstractmethod
    def find_plain(self, allowed: set[str]) -> list[tuple[str, str, int]]:
        """(table, kind, rows) for each table outside `allowed` and the GA4 export whose text
        holds an email address or phone number in plain (PLAIN_PERSONAL_DATA)."""
