"""The prod Firestore extractor (`FirebaseFirestore`) against a real Firestore emulator over gRPC.

The same documents go into the emulator and into a local export; the pages and the raw changelog
tables built from either must be the same (docs/architecture.md §3.1). The emulator is installed by
`make test-servers` (tests/servers/prepare-firestore-emulator.sh).
"""

import json
import math
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import firebase_admin
import pyarrow as pa
import pytest
from firebase_admin import credentials, firestore
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.auth.credentials import AnonymousCredentials
from google.cloud.firestore import Client
from google.cloud.firestore_v1 import GeoPoint
from google.cloud.firestore_v1.vector import Vector
from google.protobuf.timestamp_pb2 import Timestamp

from calback_platform.ingest.firestore.asset import build_firestore_assets
from calback_platform.ingest.firestore.changelog import CollectionTables
from calback_platform.ingest.firestore.duckdb import DuckDBFirestoreChangelog
from calback_platform.ingest.firestore.firebase import FirebaseFirestore
from calback_platform.ingest.firestore.source import (
    COLLECTION_TABLES,
    INCREMENTAL_FIELD,
    PAGE_SCHEMA,
    LocalFirestoreExport,
)
from calback_platform.settings import LOCAL_PII_KEY
from calback_platform.warehouse.duckdb import DuckDBWarehouse

EMULATOR_DIR = Path(__file__).parent / "servers" / "firestore-emulator"
PAGE = 50
USERS, MEETINGS, ASSIGNMENTS = COLLECTION_TABLES

# collection -> document id -> (value written to Firestore, the same document as the export has it)
Documents = dict[str, dict[str, tuple[dict, dict]]]


# --- the emulator ---------------------------------------------------------------------------
def launch_emulator(log: Path, port: int = 0) -> tuple[subprocess.Popen, str]:
    """Starts `server.js` on loopback; returns it and its host:port once it accepts connections."""
    node = shutil.which("node")
    if node is None or not (EMULATOR_DIR / "node_modules" / "@firestore-emulator").is_dir():
        pytest.fail(
            "The Firestore emulator is not installed (needs node, npm and "
            f"{EMULATOR_DIR / 'node_modules'}): run `make test-servers`.",
            pytrace=False,
        )
    with log.open("w") as out:
        process = subprocess.Popen(
            [node, "server.js", str(port)],
            cwd=EMULATOR_DIR,
            stdin=subprocess.PIPE,  # the emulator exits when this closes, even if pytest is killed
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        first = log.read_text().partition("\n")[0]
        if first.startswith("listening on "):
            host = first.split()[-1]
            address, _, bound = host.rpartition(":")
            with socket.create_connection((address, int(bound)), timeout=5):
                return process, host
        time.sleep(0.05)
    stop_emulator(process)
    raise RuntimeError(f"The Firestore emulator did not start:\n{log.read_text()}")


def stop_emulator(process: subprocess.Popen) -> None:
    process.stdin.close()
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def emulator_host(tmp_path_factory) -> Iterator[str]:
    """One emulator per test session (so per xdist worker), on its own free port."""
    process, host = launch_emulator(tmp_path_factory.mktemp("firestore-emulator") / "log")
    yield host
    stop_emulator(process)


@pytest.fixture
def project(emulator_host, monkeypatch) -> str:
    """An empty Firestore project of its own for each test in the shared emulator, which the SDK
    finds through FIRESTORE_EMULATOR_HOST."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator_host)
    return f"calback-{uuid.uuid4().hex[:12]}"


def root(project: str) -> str:
    return f"projects/{project}/databases/(default)/documents"


class _Anonymous(credentials.Base):
    def get_credential(self):
        return AnonymousCredentials()


@contextmanager
def firestore_client(project: str) -> Iterator[Client]:
    app = firebase_admin.initialize_app(_Anonymous(), {"projectId": project}, name=uuid.uuid4().hex)
    try:
        yield firestore.client(app)
    finally:
        firebase_admin.delete_app(app)


def seed(project: str, documents: Documents, delete: dict[str, list[str]] | None = None) -> None:
    """Writes (and deletes) documents in the emulator through batched writes."""
    with firestore_client(project) as db:
        writes = [
            (db.collection(collection).document(doc_id), value)
            for collection, by_id in documents.items()
            for doc_id, (value, _) in by_id.items()
        ]
        for collection, ids in (delete or {}).items():
            writes += [(db.collection(collection).document(doc_id), None) for doc_id in ids]
        for start in range(0, len(writes), 500):  # Firestore's batch limit
            batch = db.batch()
            for reference, value in writes[start : start + 500]:
                if value is None:
                    batch.delete(reference)
                else:
                    batch.set(reference, resolve_references(value, db))
            batch.commit()


def write_export(directory: Path, project: str, documents: Documents) -> Path:
    """The documents as the local export holds them (the generator's line format)."""
    (directory / "firestore").mkdir(parents=True, exist_ok=True)
    for collection, by_id in documents.items():
        lines = [
            json.dumps(
                {
                    "document_name": f"{root(project)}/{collection}/{doc_id}",
                    "document_id": doc_id,
                    "data": exported,
                },
                ensure_ascii=False,
            )
            for doc_id, (_, exported) in by_id.items()
        ]
        (directory / "firestore" / f"{collection}.jsonl").write_text("\n".join(lines) + "\n")
    return directory


# --- the documents --------------------------------------------------------------------------
class Ref(str):
    """A document reference to write (its path), resolved against the client at seed time."""


def resolve_references(value, db):
    if isinstance(value, Ref):
        return db.document(value)
    if isinstance(value, dict):
        return {key: resolve_references(item, db) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_references(item, db) for item in value]
    return value


def to_firestore(value):
    """Decodes the export's encoding into Firestore values: the demo data as the app wrote it."""
    if isinstance(value, dict) and value.keys() == {"_seconds", "_nanoseconds"}:
        return DatetimeWithNanoseconds.from_timestamp_pb(
            Timestamp(seconds=value["_seconds"], nanos=value["_nanoseconds"])
        )
    if isinstance(value, dict) and value.keys() == {"_latitude", "_longitude"}:
        return GeoPoint(value["_latitude"], value["_longitude"])
    if isinstance(value, dict):
        return {key: to_firestore(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_firestore(item) for item in value]
    return value


def ts(seconds: int, nanos: int = 0) -> DatetimeWithNanoseconds:
    return DatetimeWithNanoseconds.from_timestamp_pb(Timestamp(seconds=seconds, nanos=nanos))


def exported_ts(value: datetime) -> dict:
    micros = round((value - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1))
    return {"_seconds": micros // 1_000_000, "_nanoseconds": micros % 1_000_000 * 1000}


# Value types the demo data lacks, written natively and spelled out as the export must hold them.
SPECIAL_USERS = {
    "u_zz_types": (
        {
            "manager": Ref("userCollection/u_000001"),
            "meetings": [Ref("meetingsCollection/m_0000001"), Ref("meetingsCollection/m_0000002")],
            "nested": {
                "at": ts(1709253923, 123_456_000),
                "where": GeoPoint(37.566535, 126.977969),
                "mixed": [1, 2.5, None, True, "서울 ☕", {"photo": b"\x89PNG", "kept": 1}],
                "empty_map": {},
                "empty_list": [],
            },
            "photo": b"\x00\x01",
            "blobs": [b"\x01", "kept", b"\x02"],
            "big": 2**53 - 1,  # the emulator refuses integers past JavaScript's exact range
            "ratio": 0.1,
            "not_a_number": math.nan,
            "infinite": -math.inf,
            # Firestore keeps a timestamp to the microsecond; finer digits are dropped on write.
            "precise": ts(1709253923, 999_999_999),
            "before_epoch": datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=timezone.utc),
        },
        {
            "manager": "userCollection/u_000001",
            "meetings": ["meetingsCollection/m_0000001", "meetingsCollection/m_0000002"],
            "nested": {
                "at": {"_seconds": 1709253923, "_nanoseconds": 123_456_000},
                "where": {"_latitude": 37.566535, "_longitude": 126.977969},
                "mixed": [1, 2.5, None, True, "서울 ☕", {"kept": 1}],
                "empty_map": {},
                "empty_list": [],
            },
            "blobs": ["kept"],
            "big": 2**53 - 1,  # the emulator refuses integers past JavaScript's exact range
            "ratio": 0.1,
            "not_a_number": None,
            "infinite": None,
            "precise": {"_seconds": 1709253923, "_nanoseconds": 999_999_000},
            "before_epoch": {"_seconds": -1, "_nanoseconds": 500_000_000},
        },
    ),
    "u_zz_empty": ({}, {}),
    "u_zz_ünicode id": ({"displayName": "Ünicode"}, {"displayName": "Ünicode"}),
}


def demo_documents(demo_dir: Path) -> Documents:
    """Every usable document of the generated demo export (bad lines cannot exist in Firestore).
    A timestamp the demo wrote as the import script's ISO string is a Timestamp in Firestore,
    which today's extension encodes as {_seconds, _nanoseconds}."""
    local = LocalFirestoreExport(pii_key=LOCAL_PII_KEY, source_dir=str(demo_dir))
    documents: Documents = {}
    for collection in COLLECTION_TABLES:
        documents[collection] = {}
        for page in local.read_pages(collection):
            for row in page.to_pylist():
                if row["error"] is None:
                    data = {
                        key: exported_ts(datetime.fromisoformat(value))
                        if isinstance(value, str) and ISO_TIMESTAMP.fullmatch(value)
                        else value
                        for key, value in json.loads(row["data"]).items()
                    }
                    documents[collection][row["document_id"]] = (to_firestore(data), data)
    return documents


ISO_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def meeting(doc_id: str, updated_at: datetime) -> tuple[dict, dict]:
    return (
        {"mid": doc_id, "status": "polling", "updatedAt": updated_at},
        {"mid": doc_id, "status": "polling", "updatedAt": exported_ts(updated_at)},
    )


def updated_at(documents: Documents, doc_id: str) -> datetime:
    return documents[MEETINGS][doc_id][0]["updatedAt"]


@pytest.fixture
def documents(demo_dir) -> Documents:
    """The demo documents plus the special users, and 120 meetings sharing one `updatedAt` (the
    median of the demo's, so ties cross page boundaries in the middle of an incremental read)."""
    documents = demo_documents(demo_dir)
    documents[USERS].update(SPECIAL_USERS)
    times = sorted(updated_at(documents, doc_id) for doc_id in documents[MEETINGS])
    tie = times[len(times) // 2]
    for index in range(120):
        documents[MEETINGS][f"m_tie_{index:03d}"] = meeting(f"m_tie_{index:03d}", tie)
    micro = timedelta(microseconds=1)
    documents[MEETINGS]["m_tie_next"] = meeting("m_tie_next", tie + micro)
    documents[MEETINGS]["m_tie_prev"] = meeting("m_tie_prev", tie - micro)
    return documents


def rows(pages) -> list[dict]:
    """The rows of a read, in name order, without `record_ref` (a file line locally, the
    document in Firestore)."""
    found = [row for page in pages for row in page.to_pylist()]
    for row in found:
        row.pop("record_ref", None)
    return sorted(found, key=lambda row: row["document_name"])


def local_export(source_dir: Path) -> LocalFirestoreExport:
    return LocalFirestoreExport(source_dir=str(source_dir), pii_key=LOCAL_PII_KEY)


def prod(project: str, **overrides) -> FirebaseFirestore:
    """The prod source, on the emulator the test set (as settings would pass it)."""
    return FirebaseFirestore(
        project_id=project,
        emulator_host=os.environ.get("FIRESTORE_EMULATOR_HOST"),
        page_size=PAGE,
        pii_key=LOCAL_PII_KEY,
        **overrides,
    )


# --- reads ----------------------------------------------------------------------------------
def test_full_reads_equal_the_local_export_page_by_page(project, documents, tmp_path):
    seed(project, documents)
    local = local_export(write_export(tmp_path, project, documents))
    for collection in COLLECTION_TABLES:
        pages = list(prod(project).read_pages(collection))
        count = len(documents[collection])
        assert [page.num_rows for page in pages] == [PAGE] * (count // PAGE) + (
            [count % PAGE] if count % PAGE else []
        )
        assert all(page.schema == PAGE_SCHEMA for page in pages)
        assert rows(pages) == rows(local.read_pages(collection))
        assert len({row["document_name"] for row in rows(pages)}) == count

    special = {r["document_id"]: r for r in rows(prod(project).read_pages(USERS))}["u_zz_types"]
    assert json.loads(special["data"]) == SPECIAL_USERS["u_zz_types"][1]
    assert special["document_name"] == f"{root(project)}/userCollection/u_zz_types"


def test_incremental_read_keeps_every_document_of_a_tie_across_pages(project, documents, tmp_path):
    seed(project, documents)
    local = local_export(write_export(tmp_path, project, documents))
    times = sorted({updated_at(documents, doc_id) for doc_id in documents[MEETINGS]})
    since = times[len(times) // 3]
    expected = rows(local.read_pages(MEETINGS, updated_after=since))
    pages = list(prod(project).read_pages(MEETINGS, updated_after=since))
    found = rows(pages)
    assert found == expected
    ids = [row["document_id"] for row in found]
    assert len(ids) == len(set(ids))
    assert {f"m_tie_{i:03d}" for i in range(120)} | {"m_tie_prev", "m_tie_next"} <= set(ids)
    assert all(page.num_rows <= PAGE for page in pages) and len(pages) > 3
    below = [d for d in documents[MEETINGS] if updated_at(documents, d) < since]
    assert below and not set(below) & set(ids)


def test_keys_only_read_lists_every_document(project, documents, tmp_path):
    seed(project, documents)
    local = local_export(write_export(tmp_path, project, documents))
    for collection in COLLECTION_TABLES:
        pages = list(prod(project).read_document_names(collection))
        assert all(page.num_rows <= PAGE for page in pages)
        assert sorted(pa.Table.from_batches(pages).to_pylist(), key=str) == sorted(
            pa.Table.from_batches(list(local.read_document_names(collection))).to_pylist(),
            key=str,
        )


def test_documents_read_by_name_are_those_of_the_export_that_exist(project, documents, tmp_path):
    seed(project, documents)
    local = local_export(write_export(tmp_path, project, documents))
    ids = sorted(documents[MEETINGS])[: PAGE + 7]  # more than a page of names
    names = {f"{root(project)}/{MEETINGS}/{doc_id}" for doc_id in ids}
    names.add(f"{root(project)}/{MEETINGS}/m_never_existed")
    pages = list(prod(project).read_documents(MEETINGS, names))
    assert [page.num_rows for page in pages] == [PAGE, 7]
    assert rows(pages) == rows(local.read_documents(MEETINGS, names))
    assert sorted(row["document_id"] for row in rows(pages)) == ids


def test_a_document_that_cannot_be_encoded_is_quarantined_not_dropped(project, tmp_path):
    vector = {"uid": "u_v", "embedding": Vector([0.25, 0.5])}
    plain = {"uid": "u_plain"}
    seed(project, {USERS: {"u_vector": (vector, {}), "u_plain": (plain, plain)}})
    found = {row["document_id"]: row for row in rows(prod(project).read_pages(USERS))}
    assert found["u_plain"]["error"] is None
    bad = found["u_vector"]
    assert bad["data"] is None
    assert bad["error"] == "unserializable document: Vector value at embedding"
    raw = json.loads(bad["raw"])
    assert raw["document_name"] == f"{root(project)}/userCollection/u_vector"
    assert raw["data"]["uid"] == "u_v" and "0.25" in raw["data"]["embedding"]

    warehouse = DuckDBWarehouse(path=str(tmp_path / "prod.duckdb"))
    changelog = DuckDBFirestoreChangelog(warehouse=warehouse)
    stats = changelog.apply_read(CollectionTables("users"), prod(project).read_pages(USERS))
    assert stats.quarantined == {"unserializable document": 1}
    assert stats.live_documents == 1
    assert warehouse.query("select record_ref, reason from raw_firestore.users_quarantine") == [
        (f"{root(project)}/userCollection/u_vector", bad["error"])
    ]


# --- the raw warehouse tables ---------------------------------------------------------------
def materialize(source, warehouse: DuckDBWarehouse) -> dict[str, dict]:
    """Runs the real Firestore assets; returns each one's materialization metadata."""
    result = dg.materialize(
        build_firestore_assets(pool=None, warehouse_kind=warehouse.kind),
        resources={
            "warehouse": warehouse,
            "firestore": source,
            "firestore_changelog": DuckDBFirestoreChangelog(warehouse=warehouse),
        },
    )
    assert result.success
    metadata = {}
    for table in COLLECTION_TABLES.values():
        node = f"raw_firestore__{table}_raw_changelog"
        (materialization,) = result.asset_materializations_for_node(node)
        metadata[table] = {key: value.value for key, value in materialization.metadata.items()}
    return metadata


def changelog(warehouse: DuckDBWarehouse, collection: str) -> list[tuple]:
    """The changelog without what a load stamps (event_id, _loaded_at, and the load time that
    stands in for `timestamp` where a document has no updatedAt)."""
    table = COLLECTION_TABLES[collection]
    timestamp = "timestamp" if collection in INCREMENTAL_FIELD else "null"
    return warehouse.query(
        f"""select document_name, document_id, operation, data, old_data,
                   case when operation <> 'DELETE' then {timestamp} end
            from raw_firestore.{table}_raw_changelog order by all"""
    )


@pytest.mark.slow
def test_raw_changelogs_are_the_same_from_either_source(project, documents, tmp_path):
    seed(project, documents)
    export = tmp_path / "export"
    local = local_export(write_export(export, project, documents))
    local_warehouse = DuckDBWarehouse(path=str(tmp_path / "local.duckdb"))
    prod_warehouse = DuckDBWarehouse(path=str(tmp_path / "prod.duckdb"))
    first_local = materialize(local, local_warehouse)
    first_prod = materialize(prod(project), prod_warehouse)
    for table in ("users", "meetings"):
        assert first_prod[table]["changes"] == first_local[table]["changes"]
        assert first_prod[table]["read"] == "full"

    # The same changes to both: deletes, updates (meetings with a newer updatedAt), a new user.
    users, meetings = sorted(documents[USERS]), sorted(documents[MEETINGS])
    deleted = {
        USERS: users[:3],
        MEETINGS: [*meetings[:3], "m_tie_007"],
        ASSIGNMENTS: sorted(documents[ASSIGNMENTS])[:2],
    }
    later = max(updated_at(documents, d) for d in meetings) + timedelta(seconds=60)
    changed: dict = {USERS: {}, MEETINGS: {}}
    for doc_id in users[3:5]:
        value, exported = documents[USERS][doc_id]
        changed[USERS][doc_id] = (
            {**value, "displayName": "Renamed"},
            {**exported, "displayName": "Renamed"},
        )
    changed[USERS]["u_zz_new"] = (
        {"uid": "u_zz_new", "seen": later},
        {"uid": "u_zz_new", "seen": exported_ts(later)},
    )
    for doc_id in ("m_tie_001", meetings[5]):
        # Every field kept: the emulator merges a `set` into the old document, Firestore replaces.
        value, exported = documents[MEETINGS][doc_id]
        changed[MEETINGS][doc_id] = (
            {**value, "status": "cancelled", "updatedAt": later},
            {**exported, "status": "cancelled", "updatedAt": exported_ts(later)},
        )
    for collection, ids in deleted.items():
        for doc_id in ids:
            del documents[collection][doc_id]
    for collection, by_id in changed.items():
        documents[collection].update(by_id)
    seed(project, changed, delete=deleted)
    write_export(export, project, documents)

    second_local = materialize(local, local_warehouse)
    second_prod = materialize(prod(project), prod_warehouse)
    assert second_prod["meetings"]["read"] == "incremental"
    assert second_prod["meetings"]["changes"] == {"UPDATE": 2, "DELETE": 4}
    assert second_prod["users"]["changes"] == {"UPDATE": 2, "DELETE": 3, "CREATE": 1}
    assert second_prod["experiment_assignments"]["changes"] == {"DELETE": 2}
    for table, metadata in second_prod.items():
        for key in ("changes", "documents_read", "live_documents", "quarantined", "read"):
            assert metadata[key] == second_local[table][key], (table, key)
    for collection in COLLECTION_TABLES:
        assert changelog(prod_warehouse, collection) == changelog(local_warehouse, collection)
    meetings_rows = changelog(prod_warehouse, MEETINGS)
    assert sum(row[2] == "DELETE" for row in meetings_rows) == 4
    assert {row[2] for row in changelog(prod_warehouse, USERS)} == {
        "IMPORT",
        "UPDATE",
        "DELETE",
        "CREATE",
    }


# --- transient errors -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_firestore_fails_after_bounded_retries(monkeypatch, caplog):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    source = prod("calback", max_attempts=3, initial_backoff_seconds=0.05, page_timeout_seconds=5)
    started = time.monotonic()
    with pytest.raises(dg.Failure, match="failed 3 times in a row, last with ServiceUnavailable"):
        list(source.read_pages(USERS))
    assert time.monotonic() - started < 10
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2
    assert retries[0].startswith(
        "Firestore read of 'userCollection' in project 'calback': attempt 1/3 failed "
        "(ServiceUnavailable: "
    )


@pytest.mark.firestore_emulator
@pytest.mark.slow
def test_a_read_survives_firestore_coming_up_late(monkeypatch, caplog, tmp_path):
    port = free_port()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{port}")
    launched = []
    late = threading.Timer(1.5, lambda: launched.append(launch_emulator(tmp_path / "log", port)))
    late.start()
    try:
        source = prod("calback", max_attempts=8, initial_backoff_seconds=0.5, max_backoff_seconds=2)
        assert list(source.read_pages(USERS)) == []  # an empty emulator, reached
    finally:
        late.join()
        for process, _ in launched:
            stop_emulator(process)
    assert launched
    assert any("retrying in" in r.getMessage() for r in caplog.records)


def test_missing_credentials_fail_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    with pytest.raises(dg.Failure, match="set GOOGLE_APPLICATION_CREDENTIALS"):
        list(prod("calback").read_pages(USERS))
