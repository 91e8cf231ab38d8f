"""GA4 raw ingestion: nothing lost, duplicates dropped, bad lines quarantined, idempotent."""

import json
import shutil

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
    assert reasons.get("missing user_pseudo_id", 0) == counts.get("bad_missing_id", 0)
    ((line_number, raw),) = platform.query(
        "select line_number, raw_record from raw_ga4.events_quarantine order by line_number limit 1"
    )
    source_file = platform.source_dir / "ga4" / f"events_{day.replace('-', '')}.jsonl"
    assert source_file.read_text().splitlines()[line_number - 1] == raw


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


def test_intraday_rows_are_loaded_and_deduplicated_with_the_daily_table(platform, truth):
    day = sorted(truth["ga4"]["final"])[0]
    ga4 = platform.source_dir / "ga4"
    daily = ga4 / f"events_{day.replace('-', '')}.jsonl"
    # An intraday table repeating the daily rows, plus one event only it has so far.
    event = json.loads(next(x for x in daily.read_text().splitlines() if x.endswith("}")))
    extra = json.dumps({**event, "event_name": "screen_view", "event_bundle_sequence_id": "424242"})
    shutil.copy(daily, ga4 / f"events_intraday_{day.replace('-', '')}.jsonl")
    with (ga4 / f"events_intraday_{day.replace('-', '')}.jsonl").open("a") as out:
        out.write(extra + "\n")
    assert platform.run(partition_key=day, selection=RAW).success
    assert (
        platform.query("select count(*) from raw_ga4.events")[0][0]
        == truth["ga4"]["final"][day]["events"] + 1
    )


def test_a_missing_export_day_fails_with_a_clear_error(platform, truth):
    day = sorted(truth["ga4"]["final"])[0]
    (platform.source_dir / "ga4" / f"events_{day.replace('-', '')}.jsonl").unlink()
    result = platform.run(partition_key=day, selection=RAW)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert f"The GA4 export for {day} has not arrived" in failure.message


def test_line_blocks_number_every_line_across_block_edges(tmp_path):
    from calback_platform.resources.duckdb_ga4 import line_blocks

    lines = ['{"a":1}', "", "  ", "x" * 50, '{"b":"é"}', "\r", "last without newline"]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    for block_bytes in (7, 16, 1 << 20):  # smaller than a line, a few lines, the whole file
        rows = [row for block in line_blocks(path, block_bytes) for row in block.to_pylist()]
        assert rows == [
            {"line_number": n, "line": line} for n, line in enumerate(lines, start=1)
        ], block_bytes
    path.write_text("")
    assert list(line_blocks(path)) == []
