"""GA4 raw ingestion: nothing lost, duplicates dropped, bad lines quarantined, idempotent."""

import json
import shutil
from datetime import date

import dagster as dg
import duckdb
import pytest
from conftest import build_platform, small_config

from calback_platform.demo.generator import generate

RAW = "raw_ga4/events"


def _day_totals(truth: dict, days: list[str], version: str = "final") -> dict:
    counts = [truth["ga4"][version][day] for day in days]
    return {
        "events": sum(c["events"] for c in counts),
        "duplicates": sum(c["duplicate_lines"] for c in counts),
        "bad": sum(v for c in counts for k, v in c.items() if k.startswith("bad_")),
    }


@pytest.mark.slow
def test_rows_equal_source_lines_minus_duplicates_and_quarantine(platform, truth):
    days = sorted(truth["ga4"]["final"])[:3]
    result = platform.run(first=days[0], last=days[-1], selection=RAW)
    assert result.success
    expected = _day_totals(truth, days)
    metadata = result.asset_materializations_for_node("raw_ga4__events")[0].metadata
    assert metadata["dagster/row_count"].value == expected["events"]
    assert metadata["duplicates_dropped"].value == expected["duplicates"]
    assert metadata["quarantined"].value == expected["bad"]
    assert platform.query("select count(*) from raw_ga4.events")[0][0] == expected["events"]
    assert platform.query("select count(*) from raw_ga4.events_quarantine")[0][0] == expected["bad"]
    lines = sum(truth["ga4"]["final"][d]["lines"] for d in days)
    assert metadata["source_lines"].value == lines


@pytest.mark.slow
def test_quarantine_keeps_the_line_and_a_reason(platform, truth):
    day = sorted(truth["ga4"]["final"])[1]
    assert platform.run(partition_key=day, selection=RAW).success
    reasons = dict(
        platform.query(
            "select split_part(reason, ':', 1), count(*) from raw_ga4.events_quarantine group by 1"
        )
    )
    counts = truth["ga4"]["final"][day]
    assert reasons.get("unparsable JSON", 0) == counts.get("bad_unparsable_json", 0)
    assert reasons.get("event_timestamp has the wrong type", 0) == counts.get("bad_wrong_type", 0)
    assert reasons.get("event_params is not an array of parameters", 0) == counts.get(
        "bad_params_not_array", 0
    )
    assert reasons.get("not valid UTF-8", 0) == counts.get("bad_not_utf8", 0)
    assert sum(reasons.values()) == sum(v for k, v in counts.items() if k.startswith("bad_")) > 0
    source_lines = (
        (platform.source_dir / "ga4" / f"events_{day.replace('-', '')}.jsonl")
        .read_bytes()
        .split(b"\n")
    )
    for line_number, raw, raw_bytes in platform.query(
        "select line_number, raw_record, raw_bytes from raw_ga4.events_quarantine"
    ):
        original = source_lines[line_number - 1]
        assert (raw_bytes or raw.encode()) == original  # the line as it was, byte for byte


@pytest.mark.slow
def test_rerunning_a_partition_leaves_the_table_identical(platform, truth):
    days = sorted(truth["ga4"]["final"])[:3]
    assert platform.run(first=days[0], last=days[-1], selection=RAW).success
    snapshot = "select * exclude (_loaded_at) from raw_ga4.events order by all"
    before = platform.query(snapshot)
    for _ in range(2):
        assert platform.run(partition_key=days[1], selection=RAW).success
    assert platform.query(snapshot) == before
    quarantine = "select * exclude (_loaded_at) from raw_ga4.events_quarantine order by all"
    assert len(platform.query(quarantine)) == _day_totals(truth, days)["bad"]


@pytest.mark.slow
def test_reload_picks_up_late_events(tmp_path, truth):
    source = tmp_path / "source"
    early = generate(small_config(source, ga4_version="early"))
    platform = build_platform(source, tmp_path)
    day = sorted(truth["ga4"]["final"])[2]
    assert platform.run(partition_key=day, selection=RAW).success
    count = "select count(*) from raw_ga4.events"
    assert platform.query(count)[0][0] == early["ga4"]["early"][day]["events"]
    generate(small_config(source))  # GA4 rewrites the day's table with the late rows
    assert platform.run(partition_key=day, selection=RAW).success
    assert platform.query(count)[0][0] == truth["ga4"]["final"][day]["events"]


@pytest.mark.slow
def test_intraday_rows_are_loaded_and_deduplicated_with_the_daily_table(platform, truth):
    day = sorted(truth["ga4"]["final"])[0]
    ga4 = platform.source_dir / "ga4"
    daily = ga4 / f"events_{day.replace('-', '')}.jsonl"
    # An intraday table repeating the daily rows, plus one event only it has so far.
    event = json.loads(next(x for x in daily.read_bytes().splitlines() if x.endswith(b"}")))
    extra = json.dumps({**event, "event_name": "screen_view", "event_bundle_sequence_id": "424242"})
    shutil.copy(daily, ga4 / f"events_intraday_{day.replace('-', '')}.jsonl")
    with (ga4 / f"events_intraday_{day.replace('-', '')}.jsonl").open("a") as out:
        out.write(extra + "\n")
    assert platform.run(partition_key=day, selection=RAW).success
    assert (
        platform.query("select count(*) from raw_ga4.events")[0][0]
        == truth["ga4"]["final"][day]["events"] + 1
    )


@pytest.mark.slow
def test_a_missing_export_day_fails_with_a_clear_error(platform, truth):
    day = sorted(truth["ga4"]["final"])[0]
    (platform.source_dir / "ga4" / f"events_{day.replace('-', '')}.jsonl").unlink()
    result = platform.run(partition_key=day, selection=RAW)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert f"The GA4 export for {day} has not arrived" in failure.message


def test_line_blocks_number_every_line_across_block_edges(tmp_path):
    from calback_platform.ingest.ga4.duckdb import line_blocks, read_lines_at

    lines = ['{"a":1}', "", "  ", "x" * 50, '{"b":"é"}', "\r", "bad \udcff byte", "last"]
    raw = [line.encode("utf-8", errors="surrogateescape") for line in lines]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(raw))
    offsets = [sum(len(line) + 1 for line in raw[:n]) for n in range(len(raw))]
    lines[6] = "bad \ufffd byte"  # what is not UTF-8 arrives replaced, and marked
    for block_bytes in (7, 16, 1 << 20):  # smaller than a line, a few lines, the whole file
        blocks = list(line_blocks(path, block_bytes))  # held while later blocks are read
        rows = [row for block in blocks for row in block.to_pylist()]
        assert rows == [
            {
                "line_number": n,
                "byte_offset": offsets[n - 1],
                "line": line + "\n",  # the last line gains the newline it lacked
                "bad_utf8": True if n == 7 else None,
            }
            for n, line in enumerate(lines, start=1)
        ], block_bytes
    assert read_lines_at(path, offsets) == raw  # each line read back from its offset
    path.write_text("")
    assert list(line_blocks(path)) == []


def _event(day: str, n: int, **fields) -> dict:
    return {
        "event_date": day.replace("-", ""),
        "event_timestamp": 1_709_251_200_000_000 + n,
        "event_name": "screen_view",
        "user_pseudo_id": f"p{n}",
        "event_params": [{"key": "n", "value": {"int_value": n}}],
        **fields,
    }


def test_a_window_lands_every_kind_of_line_where_it_belongs(tmp_path):
    """Blank lines are no lines; an exact duplicate lands once, within a file and across the
    daily and intraday files; unusable lines go to quarantine with their file, line number and
    bytes; a consent-mode ping lands; a value of the wrong type lands as NULL and is kept in
    events_rejected_values; a field the schema does not know lands in _unknown_fields and
    shows in the schema."""
    from calback_platform.ingest.ga4.duckdb import DuckDBGa4Loader
    from calback_platform.ingest.ga4.export import LocalGA4Export
    from calback_platform.warehouse.duckdb import DuckDBWarehouse

    ga4 = tmp_path / "ga4"
    ga4.mkdir()
    first, second = "2024-03-01", "2024-03-02"
    daily = [
        json.dumps(_event(first, 1, consent_mode="granted")),
        "",
        "   ",
        json.dumps(_event(first, 2)),
        json.dumps(_event(first, 2)),  # a duplicate in the same file
        '{"event_date": "20240301", "event_timestamp": ',
        json.dumps(_event(second, 3)),  # another day's event
        json.dumps(_event(first, 4, event_value_in_usd="a lot")),
        json.dumps(_event(first, 5, user_pseudo_id=None)),  # a cookieless ping
        json.dumps(_event(first, 8, event_params="[]")),
    ]
    not_utf8 = json.dumps(_event(first, 9, event_name="caf?")).encode().replace(b"?", b"\xff")
    (ga4 / "events_20240301.jsonl").write_bytes(
        "\n".join(daily).encode() + b"\n" + not_utf8 + b"\n"
    )
    (ga4 / "events_intraday_20240301.jsonl").write_text(
        json.dumps(_event(first, 2)) + "\n" + json.dumps(_event(first, 6)) + "\n"
    )
    # The last line has no newline.
    (ga4 / "events_20240302.jsonl").write_text(
        json.dumps(_event(second, 2)) + "\n" + json.dumps(_event(second, 7))
    )
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    days = [date.fromisoformat(first), date.fromisoformat(second)]
    loader = DuckDBGa4Loader(warehouse=warehouse, export=LocalGA4Export(source_dir=str(tmp_path)))
    stats = loader.load_window(days)

    assert stats.source_lines == 9 + 2 + 2
    assert stats.rows_by_day == {first: 5, second: 2}
    assert stats.duplicates == 2
    assert stats.cookieless_events == 1
    assert stats.rejected_values == 1
    assert stats.unknown_fields == {"consent_mode"}
    assert dict(stats.quarantined) == {
        "unparsable JSON": 1,
        "event_date 20240302 is not the export day": 1,
        "event_params is not an array of parameters": 1,
        "not valid UTF-8": 1,
    }
    assert stats.schema["field:consent_mode"] == "VARCHAR"
    assert stats.schema["field:event_params[].value.int_value"] == "INT64"
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        landed = con.execute(
            "select export_date::varchar, user_pseudo_id, event_value_in_usd, "
            "event_params[1].value.int_value, _unknown_fields from raw_ga4.events order by all"
        ).fetchall()
        quarantined = con.execute(
            "select split_part(source_file, '/', -1), line_number, raw_record, raw_bytes "
            "from raw_ga4.events_quarantine order by line_number"
        ).fetchall()
        rejected = con.execute(
            "select line_number, field, value, expected_type from raw_ga4.events_rejected_values"
        ).fetchall()
    assert landed == [
        (first, "p1", None, 1, '{"consent_mode":"granted"}'),
        (first, "p2", None, 2, None),
        (first, "p4", None, 4, None),
        (first, "p6", None, 6, None),
        (first, None, None, 5, None),
        (second, "p2", None, 2, None),
        (second, "p7", None, 7, None),
    ]
    assert rejected == [(8, "event_value_in_usd", '"a lot"', "FLOAT64")]
    assert quarantined[:3] == [("events_20240301.jsonl", n, daily[n - 1], None) for n in (6, 7, 10)]
    _, number, text, raw_bytes = quarantined[3]
    assert (number, raw_bytes) == (11, not_utf8)
    assert "caf\ufffd" in text


def test_an_export_file_changing_during_the_load_fails_it_and_replaces_nothing(
    tmp_path, monkeypatch
):
    from calback_platform.ingest.ga4.duckdb import DuckDBGa4Loader, Ga4WindowLoad
    from calback_platform.ingest.ga4.export import LocalGA4Export
    from calback_platform.warehouse.duckdb import DuckDBWarehouse

    path = tmp_path / "ga4" / "events_20240301.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps(_event("2024-03-01", 1)) + "\n")
    loader = DuckDBGa4Loader(
        warehouse=DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb")),
        export=LocalGA4Export(source_dir=str(tmp_path)),
    )
    days = [date(2024, 3, 1)]
    assert loader.load_window(days).rows == 1

    land = Ga4WindowLoad._land

    def land_while_the_export_grows(self, numbered, unknown_fields):
        with path.open("a") as out:  # GA4 rewriting the day between the two passes
            out.write(json.dumps(_event("2024-03-01", 2)) + "\n")
        land(self, numbered, unknown_fields)

    monkeypatch.setattr(Ga4WindowLoad, "_land", land_while_the_export_grows)
    with pytest.raises(dg.Failure, match="changed while it was loaded; nothing was replaced"):
        loader.load_window(days)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select user_pseudo_id from raw_ga4.events").fetchall() == [("p1",)]


@pytest.mark.slow
def test_a_year_in_one_window_lands_what_a_year_of_daily_loads_does(tmp_path):
    """The raw layer of a single-run backfill of a year against a load per day."""
    from calback_platform.ingest.ga4.duckdb import DuckDBGa4Loader
    from calback_platform.ingest.ga4.export import LocalGA4Export
    from calback_platform.warehouse.duckdb import DuckDBWarehouse

    source = tmp_path / "source"
    truth = generate(small_config(source, users=150, days=365))
    export = LocalGA4Export(source_dir=str(source))
    days = [date.fromisoformat(day) for day in sorted(truth["ga4"]["final"])]
    assert len(days) > 300 and (days[-1] - days[0]).days == 364  # a few days had no events
    year = DuckDBGa4Loader(
        warehouse=DuckDBWarehouse(path=str(tmp_path / "year.duckdb")), export=export
    )
    stats = year.load_window(days)
    daily = DuckDBGa4Loader(
        warehouse=DuckDBWarehouse(path=str(tmp_path / "daily.duckdb")), export=export
    )
    for day in days:
        daily.load_window([day])

    totals = _day_totals(truth, sorted(truth["ga4"]["final"]))
    assert (stats.rows, stats.duplicates) == (totals["events"], totals["duplicates"])
    assert sum(stats.quarantined.values()) == totals["bad"]
    for sql in (
        "select * exclude (_loaded_at) from raw_ga4.events order by all",
        "select * exclude (_loaded_at) from raw_ga4.events_quarantine order by all",
    ):
        with (
            duckdb.connect(year.warehouse.path, read_only=True) as one,
            duckdb.connect(daily.warehouse.path, read_only=True) as other,
        ):
            assert one.execute(sql).fetchall() == other.execute(sql).fetchall()


def _events_by_day(platform) -> list[tuple]:
    return platform.query("select export_date, count(*) from raw_ga4.events group by 1 order by 1")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        # A copy stopped midway: the last line is cut and has no newline.
        (lambda text: text[: int(len(text) * 0.9)], "ends inside a line"),
        (lambda text: b"", "has no events"),
        # Whole lines, far fewer than a recent day's (a partial export).
        (lambda text: b"".join(text.splitlines(keepends=True)[:5]), "below the policy's 5%"),
    ],
    ids=["cut", "empty", "far-fewer"],
)
@pytest.mark.slow
def test_a_broken_day_fails_the_run_and_replaces_nothing(platform, truth, damage, message):
    days = sorted(truth["ga4"]["final"])
    assert platform.run(first=days[0], last=days[-1], selection=RAW).success
    before = _events_by_day(platform)
    path = platform.source_dir / "ga4" / f"events_{days[-1].replace('-', '')}.jsonl"
    whole = path.read_bytes()
    path.write_bytes(damage(whole))

    result = platform.run(first=days[-3], last=days[-1], selection=RAW)
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"The GA4 export for {days[-1]}" in error and message in error
    assert "nothing was replaced" in error
    assert _events_by_day(platform) == before  # every day of the window stays as it was

    path.write_bytes(whole)  # the export is whole again: the re-run lands it
    assert platform.run(first=days[-3], last=days[-1], selection=RAW).success
    assert _events_by_day(platform) == before


@pytest.mark.slow
def test_a_quiet_day_declared_in_config_lands(platform, truth):
    days = sorted(truth["ga4"]["final"])
    assert platform.run(first=days[0], last=days[-2], selection=RAW).success
    path = platform.source_dir / "ga4" / f"events_{days[-1].replace('-', '')}.jsonl"
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:5]))
    assert not platform.run(partition_key=days[-1], selection=RAW).success
    declared = {"ops": {"raw_ga4__events": {"config": {"expected_low_days": [days[-1]]}}}}
    result = platform.run(partition_key=days[-1], selection=RAW, run_config=declared)
    assert result.success
    metadata = result.asset_materializations_for_node("raw_ga4__events")[0].metadata
    landed = platform.query(f"select count(*) from raw_ga4.events where export_date = '{days[-1]}'")
    assert landed == [(metadata["dagster/row_count"].value,)]
    assert 0 < landed[0][0] <= 5
