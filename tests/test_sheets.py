"""The ad spend sheet: the layout and row rules, the asset landing a CSV file and a Google sheet
read through gspread (tests/fake_sheets.py answers as Google does, faults included), the tab
writer, and the column types both warehouses get."""

from __future__ import annotations

import csv
import json
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster_gcp import BigQueryResource
from fake_sheets import READER, FakeSheets
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from calback_platform.definitions import build_ad_spend_sheet
from calback_platform.ingest.sheets.asset import QUARANTINE, TABLE, build_ad_spend_asset, frames
from calback_platform.ingest.sheets.google_sheets import GoogleAdSpendSheet, GoogleSheet
from calback_platform.ingest.sheets.source import AdSpendSheet, LocalAdSpendFile
from calback_platform.ingest.sheets.validate import (
    KnownValues,
    SheetLayoutError,
    column_positions,
    validate,
)
from calback_platform.settings import load_settings
from calback_platform.warehouse.bigquery import BigQueryWarehouse
from calback_platform.warehouse.duckdb import DuckDBWarehouse

SHEET_ID = "1AdSpendTestSheet_0123456789"
# The marketer's sheet as the API returns it with UNFORMATTED_VALUE and FORMATTED_STRING
# (numbers as numbers, dates as text); written to a CSV, every cell becomes text.
# fmt: off
SHEET = [
    ["Date", " CHANNEL ", "source", "Medium", "campaign", "Spend", "currency", "impressions",
     "clicks", "notes"],
    ["2024-03-01", "Paid Search", "google", "cpc", "spring_launch", 120.5, "usd", 10000, 250, "ok"],
    ["2024-03-01", "", "Facebook", "paid_social", "Spring Launch", 1200000, "KRW", 54000, 610],
    ["2024-03-02", "paid search", "google", "cpc", "", 98.25, "USD", "", ""],
    [],
    ["2024-03-0x", "Display", "gdn", "display", "retarget", 40, "EUR", 30000, 45],
    ["2024-03-02", "Display", "gdn", "display", "retarget", "n/a", "EUR"],
    ["2024-03-02", "Display", "gdn", "display", "retarget", -5, "EUR", 1, 1],
    ["2024-03-03", "Display", "gdn", "display", "retarget", 10, "XYZ", 1, 1],
    ["2024-03-03", "TikTok Ads", "tiktok", "cpc", "", 10, "USD", 1, 1],
    ["2024-03-03", "", "newsletter", "", "", 10, "USD", 1, 1],
    ["2024-03-03", "Display", "gdn", "display", "", 10, "USD", 12.5, 1],
    ["2024-03-03", "Display", "gdn", "display", "", 10, "USD", 1, "many"],
    ["2024-03-04", "email", "newsletter", "email", "march", 0, "JPY", 500, 20],
    ["", "Display", "", "", "", "", "", "", "", "to do"],
]
LANDED = [
    (2, date(2024, 3, 1), "Paid Search", "google", "cpc", "spring_launch", 120.5, "USD", 10000,
     250),
    (3, date(2024, 3, 1), None, "Facebook", "paid_social", "Spring Launch", 1200000.0, "KRW",
     54000, 610),
    (4, date(2024, 3, 2), "Paid Search", "google", "cpc", None, 98.25, "USD", None, None),
    (14, date(2024, 3, 4), "Email", "newsletter", "email", "march", 0.0, "JPY", 500, 20),
]
# fmt: on
QUARANTINED = [
    (6, "unparsable date (expected YYYY-MM-DD)"),
    (7, "non-numeric spend (digits only: no thousands separators or symbols)"),
    (8, "negative spend"),
    (9, "unknown currency (not in seeds/currency_rates.csv)"),
    (10, "unknown channel (not in seeds/channel_rules.csv)"),
    (11, "neither channel nor source and medium"),
    (12, "non-integer impressions"),
    (13, "non-integer clicks"),
    (15, "missing date; missing spend; missing currency"),
]
LANDED_SQL = f"select * exclude (_loaded_at) from {TABLE} order by sheet_row"
QUARANTINED_SQL = f"select sheet_row, reason from {QUARANTINE} order by sheet_row"


def known() -> KnownValues:
    return KnownValues(
        currencies=frozenset({"USD", "KRW", "EUR", "JPY"}),
        channels={"paid search": "Paid Search", "display": "Display", "email": "Email"},
    )


def write_csv(path, rows: list[list]) -> str:
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    return str(path)


@pytest.fixture
def sheets(tmp_path, monkeypatch) -> FakeSheets:
    """The fake Google with the ad spend sheet, and credentials whose token_uri is the fake."""
    fake = FakeSheets()
    fake.add_spreadsheet(SHEET_ID, {"ad_spend": SHEET, "kpi": [["old"]]})
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(fake.key_file(tmp_path / "key.json")))
    yield fake
    fake.close()


def google_sheet(fake: FakeSheets, cls=GoogleAdSpendSheet, **overrides):
    return cls(
        **{
            "sheet_id": SHEET_ID,
            "api_base_url": fake.url,
            "initial_backoff_seconds": 0.01,
            **overrides,
        }
    )


def materialize(sheet: AdSpendSheet, warehouse: DuckDBWarehouse) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_ad_spend_asset(pool=None, warehouse_kind=warehouse.kind)],
        resources={"ad_spend_sheet": sheet, "warehouse": warehouse},
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    (materialization,) = result.asset_materializations_for_node("raw_sheets__ad_spend")
    return {key: value.value for key, value in materialization.metadata.items()}


def failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    return result.get_step_failure_events()[0].step_failure_data.error.message


# --- the layout and the rules (pure Python) ------------------------------------------------------
def test_header_is_matched_trimmed_and_case_insensitively_and_needs_its_columns():
    assert column_positions([" Date", "SPEND ", "Currency", "Channel"]) == {
        "date": 0,
        "spend": 1,
        "currency": 2,
        "channel": 3,
    }
    assert "channel" not in column_positions(["date", "spend", "currency", "source", "medium"])
    with pytest.raises(SheetLayoutError, match=r"no column spend, channel \(or both source"):
        column_positions(["date", "currency", "source", "campaign"])
    with pytest.raises(SheetLayoutError, match="'date' appears more than once"):
        column_positions(["date", "Date", "spend", "currency", "channel"])
    with pytest.raises(SheetLayoutError, match="the sheet is empty"):
        validate([[]], known())


def test_rows_as_cells_arrive_from_sheets_and_from_text():
    header = ["date", "channel", "spend", "currency", "impressions", "campaign"]
    result = validate(
        [
            header,
            [45352, "Display", 10, "EUR", 10000.0, 2024],  # a serial date, a number as campaign
            ["2024-03-01", "Display", "1200.50", " eur ", " 7 ", "x"],
            ["2024-03-01", "Display", "1,200,000", "KRW", "", ""],  # thousands separators
            ["2024-03-01", "Display", "₩1,200,000", "KRW", "", ""],
            [45352.5, "Display", 10, "EUR", "", ""],  # a date and a time
            ["1/3/2024", "Display", 10, "EUR", "", ""],  # a locale's date format
            ["", "  ", None],
        ],
        known(),
    )
    assert [
        (r.sheet_row, r.spend_date, r.spend, r.currency, r.impressions, r.campaign)
        for r in result.rows
    ] == [
        (2, date(2024, 3, 1), 10.0, "EUR", 10000, "2024"),
        (3, date(2024, 3, 1), 1200.5, "EUR", 7, "x"),
    ]
    non_numeric = "non-numeric spend (digits only: no thousands separators or symbols)"
    unparsable = "unparsable date (expected YYYY-MM-DD)"
    assert [(q.sheet_row, q.reason) for q in result.quarantined] == [
        (4, non_numeric),
        (5, non_numeric),
        (6, unparsable),
        (7, unparsable),
    ]


def test_known_values_are_the_seeds_columns():
    seeds = KnownValues.from_seeds()
    assert {"USD", "KRW", "EUR", "JPY"} <= seeds.currencies
    assert seeds.channels["paid search"] == "Paid Search"


# --- the asset ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_local_file_lands_its_rows_and_quarantines_each_bad_row_with_its_reason(tmp_path):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    sheet = LocalAdSpendFile(path=write_csv(tmp_path / "ad_spend.csv", SHEET))
    result = materialize(sheet, warehouse)
    assert result.success
    assert warehouse.query(LANDED_SQL) == LANDED
    assert warehouse.query(QUARANTINED_SQL) == QUARANTINED
    (values,) = warehouse.query(f"select row_values from {QUARANTINE} where sheet_row = 7")[0]
    assert json.loads(values) == [
        "2024-03-02",
        "Display",
        "gdn",
        "display",
        "retarget",
        "n/a",
        "EUR",
    ]
    facts = metadata(result)
    assert (facts["rows"], facts["quarantined"], facts["dagster/row_count"]) == (4, 9, 4)
    assert facts["spend_per_currency"] == {"JPY": 0.0, "KRW": 1200000.0, "USD": 218.75}
    assert facts["date_range"] == {"first": "2024-03-01", "last": "2024-03-04"}
    assert facts["quarantine_reasons"]["negative spend"] == 1
    assert "Facebook" in facts["preview"]

    assert materialize(sheet, warehouse).success  # a re-run replaces, it does not add
    assert warehouse.query(f"select count(*) from {TABLE}") == [(4,)]
    assert warehouse.query(f"select count(*) from {QUARANTINE}") == [(9,)]


@pytest.mark.slow
def test_a_missing_file_or_column_fails_the_run_saying_what_to_do(tmp_path):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    missing = failure(materialize(LocalAdSpendFile(path=str(tmp_path / "none.csv")), warehouse))
    assert "none.csv does not exist" in missing and "AD_SPEND_SHEET_ID" in missing
    no_spend = write_csv(tmp_path / "no_spend.csv", [["date", "channel", "currency"]])
    assert "no column spend" in failure(materialize(LocalAdSpendFile(path=no_spend), warehouse))


@pytest.mark.slow
def test_an_emptied_sheet_replaces_nothing_unless_asked_to(tmp_path):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    assert materialize(LocalAdSpendFile(path=write_csv(tmp_path / "full.csv", SHEET)), warehouse)
    emptied = LocalAdSpendFile(path=write_csv(tmp_path / "emptied.csv", SHEET[:1]))
    assert "has no rows below its header: nothing replaced" in failure(
        materialize(emptied, warehouse)
    )
    assert warehouse.query(f"select count(*) from {TABLE}") == [(4,)]
    asked = dg.materialize(
        [build_ad_spend_asset(pool=None, warehouse_kind=warehouse.kind)],
        resources={"ad_spend_sheet": emptied, "warehouse": warehouse},
        run_config={"ops": {"raw_sheets__ad_spend": {"config": {"allow_empty_sheet": True}}}},
    )
    assert asked.success and warehouse.query(f"select count(*) from {TABLE}") == [(0,)]


@pytest.mark.slow
def test_the_google_sheet_lands_the_same_rows_through_gspread(sheets, tmp_path):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    assert materialize(google_sheet(sheets), warehouse).success
    assert warehouse.query(LANDED_SQL) == LANDED
    assert warehouse.query(QUARANTINED_SQL) == QUARANTINED
    (query,) = [q for m, p, q in sheets.requests if m == "GET" and "/values/" in p]
    assert query == "valueRenderOption=UNFORMATTED_VALUE&dateTimeRenderOption=FORMATTED_STRING"


@pytest.mark.slow
def test_a_401_refreshes_the_token_and_transient_errors_are_retried(sheets, tmp_path):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    sheets.fail(401, method="GET", path="/values/")
    assert materialize(google_sheet(sheets), warehouse).success
    assert sheets.count("POST", "/token") == 2  # google-auth fetched a new token and replayed
    assert warehouse.query(f"select count(*) from {TABLE}") == [(4,)]

    sheets.requests.clear()
    sheets.fail(503, method="GET", path="/values/")
    sheets.fail(502, method="GET", path="/values/", body="<html>Bad Gateway</html>")
    sheets.fail(429, method="GET", path="/values/")
    assert materialize(google_sheet(sheets), warehouse).success
    assert sheets.count("GET", "/values/") == 4
    assert warehouse.query(LANDED_SQL) == LANDED


@pytest.mark.slow
def test_a_persistent_5xx_fails_the_run_and_leaves_the_tables_as_they_were(sheets, tmp_path):
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    assert materialize(google_sheet(sheets), warehouse).success
    before = warehouse.query(f"select * from {TABLE} order by sheet_row")
    quarantine = warehouse.query(f"select * from {QUARANTINE} order by sheet_row")

    sheets.fail(503, times=100, method="GET", path="/values/")
    message = failure(materialize(google_sheet(sheets), warehouse))
    assert f"Reading tab 'ad_spend' of Google sheet {SHEET_ID} failed 4 times in a row" in message
    assert "[503] injected fault" in message and "re-run when it recovers" in message
    assert sheets.count("GET", "/values/") == 1 + 4
    assert warehouse.query(f"select * from {TABLE} order by sheet_row") == before
    assert warehouse.query(f"select * from {QUARANTINE} order by sheet_row") == quarantine


@pytest.mark.slow
def test_a_sheet_not_shared_fails_the_run_naming_whom_to_share_it_with(sheets, tmp_path):
    sheets.spreadsheets[SHEET_ID]["shared_with"] = {"someone@example.com"}
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    message = failure(materialize(google_sheet(sheets), warehouse))
    assert (
        f"{READER} may not use spreadsheet {SHEET_ID} ([403] The caller does not have " in message
    )
    assert f"share the sheet with {READER} (Viewer to read, Editor to write)" in message
    assert "fake-token" not in message and "PRIVATE KEY" not in message
    assert sheets.count("GET", "/values/") == 0  # a refusal is not retried


def test_other_failures_say_what_to_do(sheets, monkeypatch):
    def read_failure(**overrides) -> str:
        with pytest.raises(dg.Failure) as error:
            google_sheet(sheets, **overrides).read_rows()
        return error.value.description

    assert "there is no spreadsheet nope, or" in read_failure(sheet_id="nope")
    assert "has no tab of that name" in read_failure(tab="Ad Spend")
    sheets.fail(400, path="/token", body={"error": "invalid_grant", "error_description": "bad"})
    refused = read_failure()
    assert f"Google refused the credentials of {READER} (invalid_grant: bad)" in refused
    unreachable = read_failure(api_base_url="http://127.0.0.1:1")  # connection refused
    assert "failed 4 times in a row, last with ConnectionError" in unreachable
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nowhere/key.json")
    assert "no Google credentials" in read_failure()


# --- the writer --------------------------------------------------------------------------------
def test_replace_tab_creates_the_tab_then_replaces_all_of_it(sheets):
    writer = google_sheet(sheets, cls=GoogleSheet)
    frame = pd.DataFrame(
        {
            "day": [date(2024, 3, 1), date(2024, 3, 2), None],
            "at": pd.to_datetime(["2024-03-01 09:00", None, "2024-03-03 10:30"], utc=True),
            "channel": ["Paid Search", "0012", "=1+1"],
            "spend": [Decimal("120.50"), Decimal("0"), None],
            "ctr": [0.025, np.nan, np.inf],
            "clicks": np.array([250, 0, 7], dtype="int64"),
        }
    )
    assert writer.replace_tab("weekly_kpi", frame) == 3
    tab = sheets.tab(SHEET_ID, "weekly_kpi")
    assert tab.rows == [
        ["day", "at", "channel", "spend", "ctr", "clicks"],
        ["2024-03-01", "2024-03-01T09:00:00+00:00", "Paid Search", 120.5, 0.025, 250],
        ["2024-03-02", "", "0012", 0.0, "", 0],
        ["", "2024-03-03T10:30:00+00:00", "=1+1", "", "", 7],
    ]
    assert (tab.row_count, tab.column_count) == (4, 6)  # a grid as big as the frame

    sheets.fail(503, method="PUT")  # retried as a whole: the tab is found, cleared again
    assert writer.replace_tab("weekly_kpi", frame.head(1)) == 1
    assert tab.rows == [["day", "at", "channel", "spend", "ctr", "clicks"], tab.rows[1]]
    assert sheets.count("POST", ":batchUpdate") == 1  # created once

    kpi = sheets.tab(SHEET_ID, "kpi")
    kpi.row_count, kpi.column_count = 1, 1
    assert writer.replace_tab("kpi", frame) == 3  # a tab too small for the frame grows
    assert (kpi.row_count, kpi.column_count, kpi.rows[0][0], len(kpi.rows)) == (4, 6, "day", 4)


# --- warehouses and wiring ---------------------------------------------------------------------
def test_bigquery_gets_the_column_types_even_for_empty_and_all_null_columns(monkeypatch):
    loads = {}

    class Client(bigquery.Client):
        """The real DataFrame-to-Parquet conversion; the load job is only recorded."""

        def create_dataset(self, dataset, **kwargs):
            return dataset

        def load_table_from_file(self, file, destination, job_config=None, **kwargs):
            schema = {f.name: f.field_type for f in job_config.schema}
            loads[str(destination).split(".")[-1]] = (schema, pq.read_table(file).to_pylist())
            return SimpleNamespace(result=lambda: None)

    @contextmanager
    def get_client(self):
        yield Client(project="calback-test", credentials=AnonymousCredentials())

    monkeypatch.setattr(BigQueryResource, "get_client", get_client)
    warehouse = BigQueryWarehouse(bigquery=BigQueryResource(project="calback-test"))
    loaded_at = datetime(2024, 3, 5, tzinfo=timezone.utc)
    rows = [SHEET[0], ["2024-03-01", "", "google", "cpc", "", 1, "USD"]]
    landed, quarantined = frames(validate(rows, known()), loaded_at)
    assert warehouse.replace_table(TABLE, landed) == 1
    assert warehouse.replace_table(QUARANTINE, quarantined) == 0
    schema, (row,) = loads["ad_spend"]
    assert schema == {
        "sheet_row": "INTEGER",
        "spend_date": "DATE",
        "channel": "STRING",
        "source": "STRING",
        "medium": "STRING",
        "campaign": "STRING",
        "spend": "FLOAT",
        "currency": "STRING",
        "impressions": "INTEGER",
        "clicks": "INTEGER",
        "_loaded_at": "TIMESTAMP",
    }
    assert row["spend_date"] == date(2024, 3, 1) and row["impressions"] is None
    assert loads["ad_spend_quarantine"] == (
        {
            "sheet_row": "INTEGER",
            "row_values": "STRING",
            "reason": "STRING",
            "_loaded_at": "TIMESTAMP",
        },
        [],
    )


def test_the_google_sheet_is_read_when_its_id_is_set(tmp_path):
    local = build_ad_spend_sheet(load_settings({"CALBACK_SOURCE_DIR": str(tmp_path)}))
    assert local == LocalAdSpendFile(path=str(tmp_path / "sheets" / "ad_spend.csv"))
    environ = {"AD_SPEND_SHEET_ID": SHEET_ID, "SHEETS_API_BASE_URL": "http://127.0.0.1:1"}
    google = build_ad_spend_sheet(load_settings({"CALBACK_SOURCE_DIR": str(tmp_path), **environ}))
    assert isinstance(google, GoogleAdSpendSheet)
    assert (google.sheet_id, google.tab, google.api_base_url) == (
        SHEET_ID,
        "ad_spend",
        "http://127.0.0.1:1",
    )
