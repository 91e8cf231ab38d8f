"""Firestore documents as bounded pages of extension-encoded rows (docs/architecture.md §3.1).

Each source yields Arrow record batches of `PAGE_SCHEMA`, a page at a time, so a collection of any
size passes through in constant memory. A record that cannot be used carries an `error` and its
`raw` text instead of data, for the warehouse to quarantine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

PAGE_SCHEMA = pa.schema(
    [
        ("document_name", pa.string()),
        ("document_id", pa.string()),
        ("data", pa.string()),  # JSON, keys sorted, so equal documents compare equal as text
        ("updated_at", pa.timestamp("us", tz="UTC")),
        ("record_ref", pa.string()),  # where the record came from, for quarantine rows
        ("error", pa.string()),
        ("raw", pa.string()),
    ]
)

# Firestore collection -> warehouse table stem (`<stem>_raw_changelog`).
COLLECTION_TABLES = {
    "userCollection": "users",
    "meetingsCollection": "meetings",
    "experimentAssignments": "experiment_assignments",
}
# The personal fields of each collection: the raw changelog holds them only as keyed hashes.
PII_FIELDS = {"userCollection": ("displayName", "email", "phone")}
PSEUDONYM_PREFIX = "pii:"
_DOCUMENT_NAME = re.compile(r'"document_name"\s*:\s*"([^"]+)"')
# Collections whose documents carry a reliable `updatedAt`, so they can be read incrementally.
INCREMENTAL_FIELD = {"meetingsCollection": "updatedAt"}


def encode_document(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def pseudonymise(collection: str, data: dict, key: str) -> dict:
    """`data` with its personal fields replaced by a keyed hash (HMAC-SHA256 with `key`) of
    their trimmed, lower-cased text: the same person gets the same pseudonym, so joins still
    work, and without the key nobody can tell who it is. Non-text values are hashed as JSON."""
    fields = [name for name in PII_FIELDS.get(collection, ()) if data.get(name) is not None]
    if not fields:
        return data
    hidden = dict(data)
    for name in fields:
        value = data[name] if isinstance(data[name], str) else json.dumps(data[name])
        digest = hmac.new(key.encode(), value.strip().lower().encode(), hashlib.sha256)
        hidden[name] = PSEUDONYM_PREFIX + digest.hexdigest()
    return hidden


def timestamp_value(value: object) -> datetime | None:
    """A timestamp as the extension writes it ({"_seconds", "_nanoseconds"}), or as its import
    script wrote it in Nov 2023 (an ISO string), as a UTC datetime; None for anything else."""
    if isinstance(value, dict) and isinstance(value.get("_seconds"), int):
        micros = value["_seconds"] * 1_000_000 + int(value.get("_nanoseconds") or 0) // 1000
        return datetime.fromtimestamp(micros / 1e6, timezone.utc)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment.astimezone(timezone.utc) if moment.tzinfo else None
    return None


class FirestoreSource(dg.ConfigurableResource, ABC):
    page_size: int = 5000
    # The key of the personal fields' pseudonyms (pseudonymise): a secret in prod.
    pii_key: str

    def encode(self, collection: str, data: dict) -> str:
        """A document's data as the raw changelog keeps it."""
        return encode_document(pseudonymise(collection, data, self.pii_key))

    @abstractmethod
    def read_pages(
        self, collection: str, updated_after: datetime | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Documents of `collection` (those updated at or after `updated_after`, if given)."""

    @abstractmethod
    def read_document_names(self, collection: str) -> Iterator[pa.RecordBatch]:
        """Only the `document_name` of every document, for delete detection."""

    @abstractmethod
    def read_documents(self, collection: str, names: set[str]) -> Iterator[pa.RecordBatch]:
        """The documents of `collection` with these names (those that exist)."""


class LocalFirestoreExport(FirestoreSource):
    """Reads `<source_dir>/firestore/<collection>.jsonl`, the format the prod extractor writes."""

    source_dir: str

    def _path(self, collection: str) -> Path:
        path = Path(self.source_dir) / "firestore" / f"{collection}.jsonl"
        if not path.is_file():
            raise dg.Failure(
                f"No export for Firestore collection {collection!r}: {path} does not exist. "
                "Run `calback generate` or point CALBACK_SOURCE_DIR at an export."
            )
        return path

    def read_pages(
        self, collection: str, updated_after: datetime | None = None
    ) -> Iterator[pa.RecordBatch]:
        field = INCREMENTAL_FIELD.get(collection)
        rows: list[dict] = []
        path = self._path(collection)
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                row = self._parse(collection, line.rstrip("\r\n"), f"{path.name}:{number}", field)
                if not line.endswith("\n") and (row["error"] or "").startswith("unparsable"):
                    raise dg.Failure(
                        f"The Firestore export {path} looks cut short: its last line (line "
                        f"{number}) has no newline and is not whole JSON, as a copy or export "
                        "that stopped midway leaves it; nothing was recorded. Read it again "
                        "once the export is complete."
                    )
                # As Firestore's range filter does: a document without a usable updatedAt is
                # only seen by full reads (a damaged record still goes to quarantine).
                if (
                    updated_after
                    and row["error"] is None
                    and not (row["updated_at"] and row["updated_at"] >= updated_after)
                ):
                    continue
                rows.append(row)
                if len(rows) >= self.page_size:
                    yield pa.RecordBatch.from_pylist(rows, schema=PAGE_SCHEMA)
                    rows = []
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=PAGE_SCHEMA)

    def read_document_names(self, collection: str) -> Iterator[pa.RecordBatch]:
        for page in self.read_pages(collection):
            yield page.select(["document_name", "error"])

    def read_documents(self, collection: str, names: set[str]) -> Iterator[pa.RecordBatch]:
        if not names:
            return
        wanted = pa.array(sorted(names))
        for page in self.read_pages(collection):
            page = page.filter(pc.is_in(page["document_name"], value_set=wanted))
            if page.num_rows:
                yield page

    def _parse(self, collection: str, line: str, ref: str, field: str | None) -> dict:
        row = dict.fromkeys(PAGE_SCHEMA.names)
        row["record_ref"] = ref
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            # Keep the name when it can still be read, so a damaged line of a live document is
            # quarantined without the document being taken for deleted.
            name = _DOCUMENT_NAME.search(line)
            return {
                **row,
                "document_name": name[1] if name else None,
                "error": f"unparsable JSON: {error.msg} at column {error.colno}",
                "raw": line,
            }
        name = record.get("document_name") if isinstance(record, dict) else None
        document_id = record.get("document_id") if isinstance(record, dict) else None
        data = record.get("data") if isinstance(record, dict) else None
        if not isinstance(name, str) or not isinstance(document_id, str) or not document_id:
            return {**row, "error": "missing document_name or document_id", "raw": line}
        if not isinstance(data, dict):
            return {**row, "error": "document data is not a map", "raw": line}
        return {
            **row,
            "document_name": name,
            "document_id": document_id,
            "data": self.encode(collection, data),
            "updated_at": timestamp_value(data.get(field)) if field else None,
        }
