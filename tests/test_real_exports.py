"""Rows of real GA4 exports written by other people (tests/data/real_ga4, sources in its README):
every value lands and can be read back unchanged, typed, or in `_unknown_fields`."""

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from calback_platform.ingest.ga4.duckdb import DuckDBGa4Loader
from calback_platform.ingest.ga4.export import LocalGA4Export
from calback_platform.ingest.ga4.schema import (
    BOOLEAN,
    FLOAT64,
    GA4_EXPORT_SCHEMA,
    INT64,
    STRING,
)
from calback_platform.warehouse.duckdb import DuckDBWarehouse

REAL = Path(__file__).parent / "data" / "real_ga4"


def _real_rows() -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(REAL.glob("*.ndjson"))
        for line in path.read_text().splitlines()
    ]


def _land(rows: list[dict], tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, dict]:
    """The rows as export files, one per day, landed in one window."""
    ga4 = tmp_path / "ga4"
    ga4.mkdir()
    by_day: dict[str, list[str]] = {}
    for row in rows:
        by_day.setdefault(row["event_date"], []).append(json.dumps(row))
    for day, lines in by_day.items():
        (ga4 / f"events_{day}.jsonl").write_text("\n".join(lines) + "\n")
    days = [date(int(d[:4]), int(d[4:6]), int(d[6:])) for d in by_day]
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    loader = DuckDBGa4Loader(warehouse=warehouse, export=LocalGA4Export(source_dir=str(tmp_path)))
    stats = loader.load_window(days)
    return duckdb.connect(warehouse.path, read_only=True), stats


def _read_back(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Each landed row as JSON, its unknown fields merged back in."""
    rows = []
    for text, unknown in con.execute(
        "select to_json(e), _unknown_fields from raw_ga4.events as e "
        "order by event_timestamp, event_name, to_json(event_params)"
    ).fetchall():
        row = json.loads(text)
        for name in ("_unknown_fields", "export_date", "_loaded_at"):
            del row[name]
        rows.append((row, json.loads(unknown) if unknown else {}))
    return rows


def _same(exported, landed, kind, path: str) -> None:
    """`landed` (typed, as DuckDB returns it) holds exactly `exported` (as the export wrote it:
    numbers may be strings, a missing or empty record is NULL)."""
    if exported is None or (exported == {} and isinstance(kind, dict)):
        empty = landed is None or (isinstance(kind, dict) and not any(landed.values()))
        assert empty, path
    elif isinstance(kind, dict):
        for name, child in kind.items():
            _same(exported.get(name), landed[name], child, f"{path}.{name}")
    elif isinstance(kind, list):
        assert len(exported) == len(landed), path
        for number, (one, other) in enumerate(zip(exported, landed, strict=True)):
            _same(one, other, kind[0], f"{path}[{number}]")
    elif kind == STRING:
        assert landed == exported, path
    elif kind == INT64:
        assert landed == int(exported), path
    elif kind == FLOAT64:
        assert landed == float(exported), path
    elif kind == BOOLEAN:
        assert landed == (str(exported).lower() == "true"), path


def test_every_value_of_a_real_export_row_lands_unchanged(tmp_path):
    rows = _real_rows()
    assert len(rows) >= 10
    con, stats = _land(rows, tmp_path)
    assert stats.rows == len(rows) and not stats.quarantined and not stats.rejected_values
    landed = _read_back(con)
    exported = sorted(
        rows,
        key=lambda r: (
            int(r["event_timestamp"]),
            r["event_name"],
            json.dumps(
                [
                    {"key": p["key"], "value": _canonical_value(p["value"])}
                    for p in r["event_params"]
                ]
            ),
        ),
    )
    for row, (typed, unknown) in zip(exported, landed, strict=True):
        for name, value in row.items():
            if name in GA4_EXPORT_SCHEMA:
                _same(value, typed[name], GA4_EXPORT_SCHEMA[name], name)
            else:
                assert unknown[name] == value, name
        assert set(unknown) <= set(row)


def _canonical_value(value: dict | None) -> dict:
    """A parameter value as the landed row sorts it: typed, all four kinds present."""
    value = value or {}
    return {
        "string_value": value.get("string_value"),
        "int_value": None if value.get("int_value") is None else int(value["int_value"]),
        "float_value": None if value.get("float_value") is None else float(value["float_value"]),
        "double_value": None if value.get("double_value") is None else float(value["double_value"]),
    }


@pytest.mark.parametrize(
    "change",
    [
        lambda row: row | {"event_server_retention": {"days": 14}},  # a new top-level field
        lambda row: row | {"device": {**(row["device"] or {}), "form_factor": "foldable"}},
        lambda row: row | {"items": [{**item, "item_rating": 4.5} for item in row["items"]]},
    ],
    ids=["new column", "new record field", "new item field"],
)
def test_fields_the_schema_does_not_know_yet_are_kept(tmp_path, change):
    """GA4 adds fields every year: a real row with one the schema lacks keeps its value."""
    row = json.loads((REAL / "web_purchase_eur_items.ndjson").read_text().splitlines()[0])
    changed = change(row)
    con, stats = _land([changed], tmp_path)
    ((typed, unknown),) = _read_back(con)
    (field,) = stats.unknown_fields
    assert unknown == {field: changed[field]}
    new = {key for key in stats.schema if key.startswith("field:")} - {
        f"field:{path}" for path in _known_paths(changed)
    }
    assert new and all(path.split(":")[1].split(".")[0].split("[")[0] == field for path in new)
    for name, value in changed.items():
        if name in GA4_EXPORT_SCHEMA:
            _same(value, typed[name], GA4_EXPORT_SCHEMA[name], name)


def _known_paths(row: dict) -> set[str]:
    """The paths of a row's values that the schema knows."""
    paths: set[str] = set()

    def walk(value, kind, path: str) -> None:
        paths.add(path)
        if isinstance(kind, dict) and isinstance(value, dict):
            for name, child in value.items():
                if name in kind:
                    walk(child, kind[name], f"{path}.{name}")
        elif isinstance(kind, list) and isinstance(value, list):
            paths.add(f"{path}[]")  # an empty array shows as one of unknown elements
            for element in value:
                walk(element, kind[0], f"{path}[]")

    for name, value in row.items():
        if name in GA4_EXPORT_SCHEMA:
            walk(value, GA4_EXPORT_SCHEMA[name], name)
    return paths


@pytest.mark.slow
def test_a_real_export_day_goes_through_the_whole_graph(tmp_path):
    """The real rows of 2023-12-15 (a Swiss web shop's form events with two batched
    form_visibility events, a German EUR purchase) plus the real Android sign_up re-dated to
    that day and two cookieless pings made from a real row: every row is an event, the
    batched ones two, the EUR purchase converted, the Android screen named by its class."""
    from conftest import build_platform

    source = tmp_path / "source"
    (source / "firestore").mkdir(parents=True)
    for collection in ("userCollection", "meetingsCollection", "experimentAssignments"):
        (source / "firestore" / f"{collection}.jsonl").write_text("")
    (source / "sheets").mkdir()
    (source / "sheets" / "ad_spend.csv").write_text(
        "date,channel,source,medium,campaign,spend,currency\n2023-12-15,,bing,cpc,brand,12.5,EUR\n"
    )
    rows = [row for row in _real_rows() if row["event_date"] == "20231215"]
    android = json.loads((REAL / "android_sign_up_unity_game.ndjson").read_text())
    moved = int(android["event_timestamp"]) + (date(2023, 12, 15) - date(2023, 1, 16)).days * (
        86_400 * 10**6
    )
    rows.append(android | {"event_date": "20231215", "event_timestamp": str(moved)})
    # The same device buying in its app store for 20,000,001 won, sent as an int: above 2^24,
    # where a 32-bit float would round it to 20,000,000.
    bought = {"key": "value", "value": {"int_value": "20000001"}}
    won = {"key": "currency", "value": {"string_value": "KRW"}}
    rows.append(
        android
        | {"event_date": "20231215", "event_timestamp": str(moved + 1)}
        | {"event_name": "in_app_purchase", "event_params": [bought, won]}
    )
    # Two visitors who denied cookies, pinging in the same microsecond with the same batch
    # numbers (no device id tells their batches apart), on different pages.
    ping = rows[0] | {"event_name": "page_view", "user_pseudo_id": None, "user_id": None}
    ping |= {"batch_page_id": "1"}
    ping |= {"batch_ordering_id": "1", "batch_event_index": "0"}
    for page in ("/a", "/b"):
        params = [{"key": "page_location", "value": {"string_value": page}}]
        rows.append(ping | {"event_params": params})
    (source / "ga4").mkdir()
    (source / "ga4" / "events_20231215.jsonl").write_text(
        "\n".join(json.dumps(row) for row in rows) + "\n"
    )
    platform = build_platform(source, tmp_path)
    assert platform.run(partition_key="2023-12-15").success
    assert platform.query("select count(distinct event_id) from marts.fct_events") == [(len(rows),)]
    assert platform.query("select count(*) from marts.fct_events where is_cookieless") == [(2,)]
    batched = platform.query(
        "select count(distinct event_id), sum(engagement_time_msec) from marts.fct_events "
        "where event_name = 'form_visibility'"
    )
    assert batched == [(2, 17415 + 291)]
    purchase = platform.query(
        "select revenue_amount, revenue_currency, revenue from marts.fct_events "
        "where event_name = 'purchase'"
    )
    eur = platform.query(
        "select rate_to_reporting from marts.currency_rates where currency = 'EUR'"
    )
    assert purchase == [(31.0, "EUR", 31.0 * eur[0][0])]
    in_app = platform.query(
        "select revenue_amount, revenue from marts.fct_events where event_name = 'in_app_purchase'"
    )
    assert in_app == [(20_000_001, 20_000_001)]
    screens = platform.query(
        "select screen_name from marts.fct_events "
        "where event_name = 'sign_up' and platform = 'android'"
    )
    (screen_class,) = [
        p["value"]["string_value"]
        for p in android["event_params"]
        if p["key"] == "firebase_screen_class"
    ]
    assert screens == [(screen_class,)]
    assert platform.query("select sum(revenue), sum(events) from marts.daily_kpis") == [
        (31.0 * eur[0][0] + 20_000_001, len(rows))
    ]
    # Sessions: the Bing visit's campaign came only in collected_traffic_source, and GA4's
    # session_engaged arrives as "1" or 1; the other sessions carried no campaign (direct).
    sessions = platform.query(
        "select user_pseudo_id, source, medium, attribution, default_channel_group, is_engaged, "
        "event_count from marts.fct_sessions order by user_pseudo_id"
    )
    assert sessions == [
        ("107079580.1702642286", "(direct)", "(none)", "direct", "Direct", True, 2),
        ("1385813245.1702644703", "bing", "organic", "session_campaign", "Organic Search", True, 4),
        ("427292018.1702650951", "(direct)", "(none)", "direct", "Direct", True, 1),
        (android["user_pseudo_id"], "(direct)", "(none)", "direct", "Direct", True, 1),
    ]
