"""Firestore in prod, read through the `firebase-admin` SDK into the pages of `FirestoreSource`.

Documents come out exactly as the local export holds them (in the encoding of Firebase's
"Stream Firestore to BigQuery" extension, see `extension_value`), so the raw tables are the same
whichever source wrote them. Credentials are Application Default Credentials
(`GOOGLE_APPLICATION_CREDENTIALS` or the runtime's service account); with `FIRESTORE_EMULATOR_HOST`
set (the SDK reads it to reach the emulator; settings pass it here as `emulator_host`), no
credential is used.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TypeVar

import dagster as dg
import firebase_admin
import pyarrow as pa
from firebase_admin import credentials, firestore
from google.api_core import exceptions, retry
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError
from google.cloud.firestore_v1 import (
    CollectionReference,
    DocumentReference,
    DocumentSnapshot,
    FieldFilter,
    GeoPoint,
)
from google.cloud.firestore_v1.base_query import BaseQuery
from google.cloud.firestore_v1.field_path import FieldPath

from calback_platform.ingest.firestore.source import (
    INCREMENTAL_FIELD,
    PAGE_SCHEMA,
    FirestoreSource,
    timestamp_value,
)

DOCUMENT_ID = FieldPath.document_id()  # "__name__", the document key
TRANSIENT_ERRORS = (
    exceptions.ServiceUnavailable,
    exceptions.DeadlineExceeded,
    exceptions.InternalServerError,
    exceptions.ResourceExhausted,
)
# Retries are ours, page by page: the SDK's own would resume a broken stream with `start_after`.
_NO_SDK_RETRY = retry.Retry(predicate=lambda _: False)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
T = TypeVar("T")


class UnsupportedValue(TypeError):
    """A Firestore value the extension encoding has no form for."""


class FirebaseFirestore(FirestoreSource):
    """Pages of a Firestore collection in document-key order (constant memory, any size)."""

    project_id: str
    # The emulator the SDK talks to, if any (FIRESTORE_EMULATOR_HOST): it takes no credential.
    emulator_host: str | None = None
    max_attempts: int = 5  # per page, on transient errors
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    page_timeout_seconds: float = 120.0

    def read_pages(
        self, collection: str, updated_after: datetime | None = None
    ) -> Iterator[pa.RecordBatch]:
        field = INCREMENTAL_FIELD.get(collection)
        with self._client() as client:
            documents = client.collection(collection)
            if updated_after is not None and field:
                pages = self._pages_since(documents, field, updated_after)
            else:
                pages = self._pages_by_key(documents, collection)
            for page in pages:
                rows = [self._row(collection, snapshot, field) for snapshot in page]
                yield pa.RecordBatch.from_pylist(rows, schema=PAGE_SCHEMA)

    def read_document_names(self, collection: str) -> Iterator[pa.RecordBatch]:
        with self._client() as client:
            # A projection on the key alone: Firestore then sends names, not fields.
            keys = client.collection(collection).select([DOCUMENT_ID])
            for page in self._pages_by_key(keys, collection):
                rows = [
                    {"document_name": self._document_name(s), "document_id": s.id} for s in page
                ]
                yield pa.RecordBatch.from_pylist(rows, schema=PAGE_SCHEMA).select(
                    ["document_name", "error"]
                )

    def read_documents(self, collection: str, names: set[str]) -> Iterator[pa.RecordBatch]:
        field = INCREMENTAL_FIELD.get(collection)
        prefix = f"projects/{self.project_id}/databases/(default)/documents/"
        paths = sorted(name.removeprefix(prefix) for name in names)
        with self._client() as client:
            for start in range(0, len(paths), self.page_size):
                batch = paths[start : start + self.page_size]
                references = [client.document(path) for path in batch]
                snapshots = self._retried(
                    lambda references=references: list(client.get_all(references)),
                    f"Firestore read of {len(references)} {collection!r} documents by name",
                )
                rows = [self._row(collection, s, field) for s in snapshots if s.exists]
                if rows:
                    yield pa.RecordBatch.from_pylist(rows, schema=PAGE_SCHEMA)

    # --- paging ------------------------------------------------------------------------------
    def _pages_by_key(
        self, query: BaseQuery, collection: str, after: DocumentReference | None = None
    ) -> Iterator[list[DocumentSnapshot]]:
        """`query` in key order, each page the key range past the previous one. A range filter
        rather than a cursor: emulators ignore `start_after`, and offsets bill skipped reads."""
        while True:
            page_query = query.order_by(DOCUMENT_ID)
            if after is not None:
                page_query = page_query.where(filter=FieldFilter(DOCUMENT_ID, ">", after))
            page = self._fetch(page_query.limit(self.page_size), collection)
            if page:
                yield page
            if len(page) < self.page_size:
                return
            after = page[-1].reference

    def _pages_since(
        self, documents: CollectionReference, field: str, since: datetime
    ) -> Iterator[list[DocumentSnapshot]]:
        """Documents with `field` >= `since`, in (field, key) order. A page can end inside a run
        of documents sharing one value; that run is finished by key before moving strictly past
        the value, so no document is skipped or read twice however many share it."""
        lower, operator = since, ">="
        while True:
            page = self._fetch(
                documents.where(filter=FieldFilter(field, operator, lower))
                .order_by(field)
                .order_by(DOCUMENT_ID)
                .limit(self.page_size),
                documents.id,
            )
            if page:
                yield page
            if len(page) < self.page_size:
                return
            last = page[-1]
            lower, operator = last.get(field), ">"
            same_value = documents.where(filter=FieldFilter(field, "==", lower))
            yield from self._pages_by_key(same_value, documents.id, after=last.reference)

    def _fetch(self, query: BaseQuery, collection: str) -> list[DocumentSnapshot]:
        """One page, retried with exponential back-off on transient errors."""
        return self._retried(
            lambda: list(query.stream(retry=_NO_SDK_RETRY, timeout=self.page_timeout_seconds)),
            f"Firestore read of {collection!r} in project {self.project_id!r}",
        )

    def _retried(self, call: Callable[[], T], what: str) -> T:
        return with_retries(
            call,
            what=what,
            attempts=self.max_attempts,
            initial_backoff=self.initial_backoff_seconds,
            max_backoff=self.max_backoff_seconds,
        )

    # --- documents ---------------------------------------------------------------------------
    def _document_name(self, snapshot: DocumentSnapshot) -> str:
        return f"projects/{self.project_id}/databases/(default)/documents/{snapshot.reference.path}"

    def _row(self, collection: str, snapshot: DocumentSnapshot, field: str | None) -> dict:
        name = self._document_name(snapshot)
        row = dict.fromkeys(PAGE_SCHEMA.names)
        row.update(document_name=name, document_id=snapshot.id, record_ref=name)
        data = snapshot.to_dict() or {}
        try:
            encoded = extension_value(data)
        except UnsupportedValue as error:
            # Quarantined with its name, so the document is not taken for deleted either.
            raw = {"document_name": name, "document_id": snapshot.id, "data": data}
            return {**row, "error": f"unserializable document: {error}", "raw": _lenient(raw)}
        return {
            **row,
            "data": self.encode(collection, encoded),
            "updated_at": timestamp_value(encoded.get(field)) if field else None,
        }

    # --- client ------------------------------------------------------------------------------
    @contextmanager
    def _client(self):
        """A client on its own app for one read, so nothing global outlives it."""
        app = firebase_admin.initialize_app(
            _EmulatorCredential() if self.emulator_host else credentials.ApplicationDefault(),
            {"projectId": self.project_id},
            name=f"calback-firestore-{uuid.uuid4().hex}",
        )
        try:
            try:
                client = firestore.client(app)
            except DefaultCredentialsError as error:
                raise dg.Failure(
                    f"No Google credentials to read Firestore project {self.project_id!r}: "
                    "set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, or run "
                    "where Application Default Credentials exist (gcloud auth "
                    f"application-default login, a GCP service account). {error}"
                ) from error
            yield client
        finally:
            firebase_admin.delete_app(app)


class _EmulatorCredential(credentials.Base):
    """The emulator takes any caller; never hand it a real token."""

    def get_credential(self):
        return AnonymousCredentials()


def with_retries(
    call: Callable[[], T],
    what: str,
    attempts: int,
    initial_backoff: float,
    max_backoff: float,
) -> T:
    """`call()`, tried up to `attempts` times while it fails transiently. Logs name the error
    class and its message only: no request, credential or document contents."""
    log = dg.get_dagster_logger()
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TRANSIENT_ERRORS as error:
            reason = f"{type(error).__name__}: {error.message}"
            if attempt == attempts:
                raise dg.Failure(
                    f"{what} failed {attempts} times in a row, last with {reason}. "
                    "Firestore is unreachable or over quota; re-run when it recovers."
                ) from error
            # Half of the back-off is jitter, so parallel readers do not retry in step.
            backoff = min(max_backoff, initial_backoff * 2 ** (attempt - 1))
            delay = random.uniform(backoff / 2, backoff)
            log.warning(
                f"{what}: attempt {attempt}/{attempts} failed ({reason}); retrying in {delay:.1f}s"
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


# --- the extension encoding -----------------------------------------------------------------------
def extension_value(value: object, path: str = "") -> object:
    """A Firestore value as the Stream Firestore to BigQuery extension writes it: timestamps and
    geopoints as their JSON objects, references as their path (`userCollection/u_1`, the Node
    SDK's `DocumentReference.path`), bytes dropped, maps and arrays recursively."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # JSON.stringify, which the extension uses, writes NaN and ±Infinity as null.
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, GeoPoint):
        return {"_latitude": value.latitude, "_longitude": value.longitude}
    if isinstance(value, DocumentReference):
        return value.path
    if isinstance(value, dict):
        return {
            key: extension_value(item, f"{path}.{key}" if path else key)
            for key, item in value.items()
            if not isinstance(item, bytes)
        }
    if isinstance(value, list):
        return [
            extension_value(item, f"{path}[{index}]")
            for index, item in enumerate(value)
            if not isinstance(item, bytes)
        ]
    raise UnsupportedValue(f"{type(value).__name__} value at {path or 'top level'}")


def _timestamp(value: datetime) -> dict[str, int]:
    # Firestore stores timestamps to the microsecond (finer digits are rounded down on write),
    # and the SDK's snapshot copies drop DatetimeWithNanoseconds' extra digits anyway.
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - _EPOCH
    return {
        "_seconds": delta.days * 86_400 + delta.seconds,
        "_nanoseconds": value.microsecond * 1000,
    }


def _lenient(record: dict) -> str:
    """The record as JSON for a person to read: what has no JSON form is shown by its repr."""

    def fallback(value: object) -> object:
        try:
            return extension_value(value)
        except UnsupportedValue:
            return repr(value)

    return json.dumps(record, sort_keys=True, ensure_ascii=False, default=fallback)
