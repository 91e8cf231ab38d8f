"""The BigQuery warehouse: the exact jobs it submits, and what they do, run by a DuckDB-backed
stand-in for the BigQuery client (tests/fake_bigquery.py). The DuckDB warehouse, tested against
the source files elsewhere, is the reference: both must land the same raw tables."""

import json
import shutil
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest
import sqlglot
from conftest import START
from dagster_gcp import BigQueryResource
from fake_bigquery import DuckDBBackedBigQuery
from google.cloud import bigquery

from calback_platform.ingest.firestore.bigquery import BigQueryFirestoreChangelog
from calback_platform.ingest.firestore.changelog import CollectionTables
from calback_platform.ingest.firestore.duckdb import DuckDBFirestoreChangelog
from calback_platform.ingest.firestore.source import LocalFirestoreExport
from calback_platform.ingest.ga4.bigquery import BigQueryGa4Loader
from calback_platform.ingest.ga4.duckdb import DuckDBGa4Loader
from calback_platform.ingest.ga4.export import BigQueryGA4Export, LocalGA4Export
from calback_platform.ingest.ga4.load import Ga4DayPolicy
from calback_platform.personal_data.asset import allowed_tables, personal_data_places
from calback_platform.personal_data.bigquery import BigQueryPersonalData
from calback_platform.personal_data.duckdb import DuckDBPersonalData
from calback_platform.settings import LOCAL_PII_KEY
from calback_platform.warehouse.bigquery import BigQueryWarehouse
from calback_platform.warehouse.duckdb import DuckDBWarehouse

PROJECT = "calback-test"
DAYS = [START + timedelta(days=n) for n in range(3)]
GA4_COLUMNS = "* exclude (_unknown_fields, export_date, _loaded_at)"


@pytest.fixture
def fake(monkeypatch) -> DuckDBBackedBigQuery:
    client = DuckDBBackedBigQuery(PROJECT)

    @contextmanager
    def get_client(self):
        yield client

    monkeypatch.setattr(BigQueryResource, "get_client", get_client)
    return client


def warehouse(**overrides) -> BigQueryWarehouse:
    resource = BigQueryResource(project=PROJECT, location="asia-northeast3")
    return BigQueryWarehouse(bigquery=resource, **overrides)


def ga4() -> BigQueryGa4Loader:
    """The loader of the export that export_to_fake writes."""
    export = BigQueryGA4Export(project=PROJECT, dataset="analytics_1")
    return BigQueryGa4Loader(warehouse=warehouse(), export=export)


@pytest.fixture
def reference(demo_dir, tmp_path) -> DuckDBWarehouse:
    local = DuckDBWarehouse(path=str(tmp_path / "reference.duckdb"))
    export = LocalGA4Export(source_dir=str(demo_dir))
    DuckDBGa4Loader(warehouse=local, export=export).load_window(DAYS)
    return local


def export_to_fake(fake: DuckDBBackedBigQuery, reference: DuckDBWarehouse, cookieless: int = 0):
    """GA4's export tables as BigQuery would hold them, typed: the reference's rows per day,
    each day with every row twice over for its first 5 (exact duplicates) and `cookieless`
    copies of rows without a user_pseudo_id, as consent-mode pings arrive."""
    fake.con.execute(f"attach '{reference.path}' as reference (read_only)")
    fake.con.execute("create schema analytics_1")
    for day in DAYS:
        rows = f"(select {GA4_COLUMNS} from reference.raw_ga4.events where export_date = '{day}')"
        name = f"analytics_1.events_{day:%Y%m%d}"
        fake.con.execute(f"create table {name} as select * from {rows}")
        fake.con.execute(f"insert into {name} select * from {rows} order by all limit 5")
        fake.con.execute(
            f"insert into {name} select * replace (null as user_pseudo_id, "
            f"event_timestamp + 1 as event_timestamp) from {rows} order by all limit {cookieless}"
        )
    fake.con.execute("detach reference")


def fake_table(fake, sql: str) -> list[tuple]:
    return fake.con.execute(sql).fetchall()


def test_ga4_window_lands_what_the_local_load_lands_in_one_transaction(fake, reference):
    export_to_fake(fake, reference, cookieless=2)
    stats = ga4().load_window(DAYS)

    with_device = f"select {GA4_COLUMNS} from raw_ga4.events where user_pseudo_id is not null"
    expected = reference.query(f"{with_device} order by all")
    landed = fake_table(fake, f"{with_device} order by all")
    assert len(landed) == len(expected) > 1000
    assert landed == expected
    ((reference_rows, reference_cookieless),) = reference.query(
        "select count(*), count(*) - count(user_pseudo_id) from raw_ga4.events"
    )
    assert stats.rows == reference_rows + 2 * len(DAYS)  # consent-mode pings land
    assert stats.cookieless_events == reference_cookieless + 2 * len(DAYS)
    assert stats.duplicates == 5 * len(DAYS)
    assert dict(stats.quarantined) == {}
    assert stats.schema["event:session_start"] == "event"
    assert stats.schema["param:ga_session_id"] == "int"

    # The jobs: stage by a query over only the window's shards, measure, then one transaction.
    queries = [job.sql for job in fake.jobs]
    stage, *_, replace = queries
    suffixes = ", ".join(f"'{day:%Y%m%d}'" for day in DAYS)
    assert f"`{PROJECT}.analytics_1.events_*` where _table_suffix in ({suffixes})" in stage
    assert "events_intraday_*" not in stage
    assert fake.jobs[-1].parameters == {"first_day": DAYS[0], "last_day": DAYS[-1]}
    statements = [type(s).__name__ for s in sqlglot.parse(replace, read="bigquery")]
    assert statements == [
        "Create", "Create", "Transaction", "Delete", "Insert", "Delete", "Insert", "Commit"
    ]  # fmt: skip
    for delete in sqlglot.parse(replace, read="bigquery")[3:7:2]:
        assert "export_date BETWEEN @first_day AND @last_day" in delete.sql(dialect="bigquery")
    assert "partition by export_date" in replace
    assert all(not name.startswith("raw_ga4._stage") for name in _tables(fake))
    assert ("delete_table", stage.split("`")[1]) in fake.calls


def test_ga4_rerun_replaces_the_same_rows_and_intraday_fills_a_missing_day(fake, reference):
    export_to_fake(fake, reference)
    ga4().load_window(DAYS)
    first = fake_table(fake, f"select {GA4_COLUMNS} from raw_ga4.events order by all")
    # GA4 has not finished the last day yet: only its intraday table exists.
    last = f"{DAYS[-1]:%Y%m%d}"
    fake.con.execute(f"alter table analytics_1.events_{last} rename to events_intraday_{last}")
    ga4().load_window(DAYS)
    again = fake_table(fake, f"select {GA4_COLUMNS} from raw_ga4.events order by all")
    assert again == first
    stage = next(job.sql for job in reversed(fake.jobs) if job.sql.startswith("create or replace"))
    assert f"events_intraday_*` where _table_suffix in ('{last}')" in stage


def test_ga4_corrupt_day_and_missing_day_replace_nothing(fake, reference):
    export_to_fake(fake, reference)
    ga4().load_window(DAYS)
    before = fake_table(fake, "select count(*) from raw_ga4.events")
    fake.con.execute(
        f"update analytics_1.events_{DAYS[1]:%Y%m%d} set event_name = null "
        "where event_timestamp % 2 = 0"
    )
    jobs = len(fake.jobs)
    with pytest.raises(dg.Failure, match=r"looks corrupt: \d+ of \d+ lines"):
        ga4().load_window(DAYS, Ga4DayPolicy(max_bad_share=0.2))
    assert not any("begin transaction" in job.sql for job in fake.jobs[jobs:])
    assert fake_table(fake, "select count(*) from raw_ga4.events") == before
    assert all(not name.startswith("_stage") for name in _tables(fake))

    fake.con.execute(f"delete from analytics_1.events_{DAYS[1]:%Y%m%d}")  # an empty day
    with pytest.raises(dg.Failure, match=f"{DAYS[1]} has no events; nothing was replaced"):
        ga4().load_window(DAYS)
    assert fake_table(fake, "select count(*) from raw_ga4.events") == before

    jobs = len(fake.jobs)
    with pytest.raises(dg.Failure, match="has not arrived: no events_20240310"):
        ga4().load_window([date(2024, 3, 10)])
    assert len(fake.jobs) == jobs  # nothing was submitted


def _tables(fake) -> list[str]:
    return [
        name for (name,) in fake.con.execute("select table_name from duckdb_tables()").fetchall()
    ]


CHANGELOG_COLUMNS = "document_name, operation, data, old_data, document_id"


def test_firestore_reads_stream_through_load_jobs_and_match_the_duckdb_changelog(
    fake, demo_dir, tmp_path
):
    source = tmp_path / "source"
    shutil.copytree(demo_dir / "firestore", source / "firestore")
    firestore = LocalFirestoreExport(pii_key=LOCAL_PII_KEY, source_dir=str(source), page_size=20)
    local = DuckDBWarehouse(path=str(tmp_path / "reference.duckdb"))
    changelogs = (
        DuckDBFirestoreChangelog(warehouse=local),
        BigQueryFirestoreChangelog(warehouse=warehouse(rows_per_load=50)),
    )
    collection, tables = "meetingsCollection", CollectionTables("meetings")

    def both(incremental: bool):
        results = []
        for changelog in changelogs:
            watermark = changelog.watermark(tables) if incremental else None
            pages = firestore.read_pages(collection, updated_after=watermark)
            names = firestore.read_document_names(collection) if incremental else None
            results.append(changelog.apply_read(tables, pages, present_names=names))
        return results

    local_stats, cloud_stats = both(incremental=False)
    documents = cloud_stats.documents_read
    loads = [job for job in fake.jobs if job.kind == "load"]
    assert [job.rows_loaded for job in loads[:-1]] == [60] * (len(loads) - 1)  # 3 pages a load
    assert sum(job.rows_loaded for job in loads) > documents > 100
    assert all(job.config.source_format == "PARQUET" for job in loads)
    assert cloud_stats.changes == local_stats.changes == {"IMPORT": documents}
    assert cloud_stats.live_documents == local_stats.live_documents == documents
    assert dict(cloud_stats.quarantined) == dict(local_stats.quarantined)
    assert cloud_stats.schema["participantUids"].lower() == "array"

    # A change, a delete and a new document; then the incremental read with its keys-only read.
    path = source / "firestore" / f"{collection}.jsonl"
    lines = path.read_text().splitlines()
    first = next(n for n, line in enumerate(lines) if '"updatedAt":{' in line)
    changed = json.loads(lines[first])
    changed["data"]["status"] = "cancelled"
    changed["data"]["updatedAt"]["_seconds"] += 365 * 86400  # after the watermark
    lines[first] = json.dumps(changed)
    del lines[first + 1]
    path.write_text("\n".join(lines) + "\n")
    local_stats, cloud_stats = both(incremental=True)
    assert cloud_stats.changes == local_stats.changes
    assert cloud_stats.changes == {"UPDATE": 1, "DELETE": 1}

    query = f"select {CHANGELOG_COLUMNS} from raw_firestore.meetings_raw_changelog order by all"
    assert fake_table(fake, query) == local.query(query)
    quarantine = "select record_ref, reason, raw_record from raw_firestore.meetings_quarantine"
    assert sorted(fake_table(fake, quarantine)) == sorted(local.query(quarantine))
    script = next(job.sql for job in fake.jobs if job.sql and "begin transaction" in job.sql)
    assert [type(s).__name__ for s in sqlglot.parse(script, read="bigquery")][:5] == [
        "Declare", "Transaction", "Create", "Create", "Insert"
    ]  # fmt: skip
    assert all(not name.startswith("_stage") for name in _tables(fake))


def test_reads_and_table_replacement(fake):
    cloud = warehouse()
    import pandas as pd

    frame = pd.DataFrame({"experiment_id": ["exp_a", "exp_b"], "users": [10, 20]})
    assert cloud.replace_table("marts.ab_test_results", frame) == 2
    load = fake.jobs[-1]
    assert load.destination == f"{PROJECT}.marts.ab_test_results"
    assert load.config.write_disposition == bigquery.WriteDisposition.WRITE_TRUNCATE
    assert ("create_dataset", "marts", "asia-northeast3") in fake.calls
    rows = cloud.query(
        "select experiment_id from marts.ab_test_results where users > ? and experiment_id <> ?",
        [15, "exp_c"],
    )
    assert rows == [("exp_b",)]
    kinds = [p.type_ for p in fake.jobs[-1].config.query_parameters]
    assert kinds == ["INT64", "STRING"]
    assert cloud.query_frame("select sum(users) as total from marts.ab_test_results")[
        "total"
    ].tolist() == [30]
    assert BigQueryFirestoreChangelog(warehouse=cloud).watermark(CollectionTables("users")) is None


def test_window_rows_are_replaced_as_in_the_local_warehouse(fake, tmp_path):
    """replace_rows: a window's rows swapped in one transaction, other days kept, the same
    table as DuckDB's, and the stage table dropped."""
    import pandas as pd

    from calback_platform.assets.revisit import SCORES_SCHEMA
    from calback_platform.warehouse.base import typed_frame

    def scores(days: list[date], score: float) -> pd.DataFrame:
        return typed_frame(
            pd.DataFrame(
                {
                    "score_date": days,
                    "user_id": [f"u{n}" for n in range(len(days))],
                    "signup_date": [day - timedelta(days=9) for day in days],
                    "days_since_signup": [9] * len(days),
                    "revisit_score": [score] * len(days),
                    "model_version": ["m1"] * len(days),
                    "top_reasons": [""] * len(days),
                }
            ),
            SCORES_SCHEMA,
        )

    local = DuckDBWarehouse(path=str(tmp_path / "local.duckdb"))
    table = "marts.user_revisit_scores"
    for target in (warehouse(), local):
        assert target.replace_rows(table, scores(DAYS, 0.5), "score_date", DAYS[0], DAYS[-1]) == 3
        target.replace_rows(table, scores(DAYS[1:2] * 2, 0.9), "score_date", DAYS[1], DAYS[1])
    sql = f"select score_date, user_id, revisit_score from {table} order by 1, 2"
    assert (
        warehouse().query(sql)
        == local.query(sql)
        == [
            (DAYS[0], "u0", 0.5),
            (DAYS[1], "u0", 0.9),
            (DAYS[1], "u1", 0.9),
            (DAYS[2], "u2", 0.5),
        ]
    )
    (*_, swap) = [job for job in fake.jobs if job.sql and "begin transaction" in job.sql]
    assert "delete from" in swap.sql and swap.parameters == {"first": DAYS[1], "last": DAYS[1]}
    assert [name for name, *_ in fake.calls if name == "delete_table"] == ["delete_table"] * 2
    assert fake_table(fake, "select table_name from information_schema.tables") == [
        ("user_revisit_scores",)
    ]


def test_ga4_export_of_another_schema_year_lands_every_value(fake, reference):
    """An export table of another year: without fields GA4 added later (batch_*, items without
    item_params) and with fields the schema does not know yet (a new column, a new device
    field). Known values land in their columns, missing ones as NULL, unknown ones in
    `_unknown_fields`."""
    export_to_fake(fake, reference)
    day = f"{DAYS[0]:%Y%m%d}"
    fake.con.execute(
        f"""create or replace table analytics_1.events_{day} as
        select * exclude (batch_event_index, batch_ordering_id, batch_page_id, device, items),
            struct_insert(device, consent_region := 'EEA') as device,
            [struct_pack(item_id := 'slot_1', price := 9900.0::double)] as items,
            {{'ad_user_data': 'granted'}} as consent_signals
        from analytics_1.events_{day}"""
    )
    stats = ga4().load_window(DAYS[:1])

    assert stats.unknown_fields == {"device", "consent_signals"}
    assert stats.schema["field:device.consent_region"] == "STRING"
    landed = fake_table(
        fake,
        """select count(*), count(batch_event_index), count(items[1].item_params),
            min(items[1].price), min(device.category), min(json_extract_string(_unknown_fields,
            '$.consent_signals.ad_user_data')), min(json_extract_string(_unknown_fields,
            '$.device.consent_region'))
        from raw_ga4.events""",
    )
    rows = reference.query(f"select count(*) from raw_ga4.events where export_date = '{DAYS[0]}'")
    assert landed == [(rows[0][0], 0, 0, 9900.0, "desktop", "granted", "EEA")]


def test_personal_data_is_purged_as_in_the_local_warehouse(fake, demo_dir, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(demo_dir / "firestore", source / "firestore")
    firestore = LocalFirestoreExport(pii_key=LOCAL_PII_KEY, source_dir=str(source))
    local, cloud = DuckDBWarehouse(path=str(tmp_path / "reference.duckdb")), warehouse()
    path = source / "firestore" / "userCollection.jsonl"
    whole = path.read_text().splitlines()
    for lines in (whole, [line for line in whole if '"document_id":"u_000001"' not in line]):
        path.write_text("\n".join(lines) + "\n")
        for changelog in (
            DuckDBFirestoreChangelog(warehouse=local),
            BigQueryFirestoreChangelog(warehouse=cloud),
        ):
            changelog.apply_read(CollectionTables("users"), firestore.read_pages("userCollection"))
    purge = personal_data_places()[0]
    later = datetime.now(timezone.utc) + timedelta(days=31)  # as if a month had passed
    changed = DuckDBPersonalData(warehouse=local).purge(purge, later)
    assert changed["raw_firestore.users_raw_changelog"] == 2  # the IMPORT and the DELETE
    assert changed["raw_firestore.users_quarantine"] > 0  # damaged records, kept a month
    cloud_personal_data = BigQueryPersonalData(warehouse=cloud)
    assert cloud_personal_data.purge(purge, later) == changed
    query = f"select {CHANGELOG_COLUMNS} from raw_firestore.users_raw_changelog order by all"
    assert fake_table(fake, query) == local.query(query)
    assert cloud_personal_data.find_plain(allowed_tables()) == []  # the quarantine is allowed
    fake.con.execute(f'create schema "{PROJECT}".marts')
    fake.con.execute(
        f"create table \"{PROJECT}\".marts.leaked as select 'someone@calback.app' as contact"
    )
    assert cloud_personal_data.find_plain(allowed_tables()) == [("marts.leaked", "email", 1)]
