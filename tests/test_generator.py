"""The demo generator: deterministic, and its truth describes exactly the files it wrote."""

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

from conftest import small_config

from calback_platform.demo.generator import generate


def _digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.jsonl")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_same_seed_writes_the_same_bytes(tmp_path, demo_dir):
    generate(small_config(tmp_path / "again"))
    assert _digest(tmp_path / "again") == _digest(demo_dir)
    generate(small_config(tmp_path / "other", seed=12))
    assert _digest(tmp_path / "other") != _digest(demo_dir)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _rows(directory: Path) -> list[dict]:
    """Every GA4 row of the export that parses (bad lines aside, duplicates kept)."""
    rows = []
    for path in sorted((directory / "ga4").glob("*.jsonl")):
        for line in _lines(path):
            try:
                rows.append(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
    return rows


def test_truth_counts_match_the_files(demo_dir, truth):
    final = truth["ga4"]["final"]
    assert len(final) == 8
    for day, counts in final.items():
        lines = _lines(demo_dir / "ga4" / f"events_{day.replace('-', '')}.jsonl")
        assert len(lines) == counts["lines"]
        bad = sum(v for k, v in counts.items() if k.startswith("bad_"))
        assert counts["lines"] == counts["events"] + counts["duplicate_lines"] + bad
        assert len(set(lines)) == len(lines) - counts["duplicate_lines"]
    for collection, counts in truth["firestore"].items():
        lines = (demo_dir / "firestore" / f"{collection}.jsonl").read_text().splitlines()
        bad = counts.get("bad_unparsable_json", 0) + counts.get("bad_missing_id", 0)
        assert len(lines) == counts["documents"] + bad


def test_planted_behaviour_is_there(demo_dir, truth):
    assert len(truth["bots"]) == 3 and len(truth["whales"]) == 4
    assert truth["multi_device_users"] > 0
    paywall = truth["experiments"]["exp_paywall_v2"]
    assert paywall["purchase_multiplier"] == {"control": 1.0, "test": 1.6}
    sources, platforms, names = set(), set(), set()
    for row in _rows(demo_dir):
        sources.add((row["traffic_source"] or {}).get("source"))
        platforms.add(row["platform"])
        names.add(row["event_name"])
    assert {"google", "instagram", "facebook", "invite"} <= sources
    assert platforms == {"IOS", "ANDROID", "WEB"}
    assert {
        "first_open",
        "sign_up",
        "onboarding_complete",
        "meeting_create",
        "invite_send",
        "meeting_confirm",
        "purchase",
        "in_app_purchase",
        "user_engagement",
        "app_remove",
        "session_start",
    } <= names


def test_early_version_leaves_out_exactly_the_late_events(tmp_path, truth):
    early = generate(small_config(tmp_path, ga4_version="early"))
    for day, final_counts in truth["ga4"]["final"].items():
        early_counts = early["ga4"]["early"][day]
        lines = _lines(tmp_path / "ga4" / f"events_{day.replace('-', '')}.jsonl")
        assert len(lines) == early_counts["lines"]
        assert final_counts["lines"] >= early_counts["lines"]
    assert sum(c.get("late_events", 0) for c in truth["ga4"]["final"].values()) > 0


def test_real_export_traits_are_planted_as_the_truth_says(demo_dir, truth):
    """Each trait of real exports is in the files as often as truth.json says (duplicate lines
    and lines that are not events aside)."""
    rows = {json.dumps(row, sort_keys=True): row for row in _rows(demo_dir)}.values()
    rows = [  # the events: not the planted lines with a wrong timestamp or parameters
        row
        for row in rows
        if isinstance(row["event_params"], list) and str(row["event_timestamp"]).isdigit()
    ]
    total = Counter()
    for counts in truth["ga4"]["final"].values():
        total.update(counts)

    def params(row: dict) -> dict:
        return {p["key"]: p["value"] for p in row["event_params"]}

    cookieless = [row for row in rows if row["user_pseudo_id"] is None]
    assert len(cookieless) == total["cookieless_events"] > 0
    assert all(r["privacy_info"]["analytics_storage"] == "No" for r in cookieless)
    class_only = [
        row
        for row in rows
        if row["event_name"] == "screen_view" and "firebase_screen" not in params(row)
    ]
    assert len(class_only) == total["screen_class_only_views"] > 0
    assert all("firebase_screen_class" in params(row) for row in class_only)
    # Batched events: two distinct user_engagement events with one timestamp and bundle.
    batches = Counter(
        (row["user_pseudo_id"], int(row["event_timestamp"]), int(row["event_bundle_sequence_id"]))
        for row in rows
        if row["event_name"] == "user_engagement"
    )
    assert sum(batches.values()) == total["batched_events"]  # one may have become a bad line
    assert sum(n == 2 for n in batches.values()) > 0.9 * total["batched_events"] / 2
    web_batch = [r for r in rows if r["event_name"] == "user_engagement" and r["platform"] == "WEB"]
    assert {int(r["batch_event_index"]) for r in web_batch} == {0, 1}
    purchases = [r for r in rows if r["event_name"] in ("purchase", "in_app_purchase")]
    assert len(purchases) == total["purchases"]
    by_currency = Counter()
    for row in purchases:
        by_currency[params(row)["currency"]["string_value"]] += row["ecommerce"]["purchase_revenue"]
    assert {k: round(v, 2) for k, v in by_currency.items()} == truth["revenue_by_currency"]
    assert len(truth["revenue_by_currency"]) > 1  # several currencies
    # Sessions that say where they came from: UTM tags, or a referrer GA4 turned into
    # collected_traffic_source (a Google Ads click brings only its gclid).
    campaigns = Counter(
        "{manual_source}/{manual_medium}".format(**row["collected_traffic_source"])
        for row in rows
        if row["event_name"] == "session_start"
        and (row.get("collected_traffic_source") or {}).get("manual_source")
    )
    assert campaigns == {
        key.split(":")[1]: n for key, n in total.items() if key.startswith("campaign_sessions:")
    }
    assert {"instagram/cpc", "invite/referral", "newsletter/email"} <= set(campaigns)
    # Google Ads auto-tagging: a click id only, no UTM tags; organic search: only the referrer
    # GA4 turned into collected_traffic_source.
    collected = [r for r in rows if r.get("collected_traffic_source")]
    ads = [r for r in collected if r["collected_traffic_source"].get("gclid")]
    assert ads and all("gclid" in params(r) and "source" not in params(r) for r in ads)
    organic = [
        r for r in collected if r["collected_traffic_source"].get("manual_medium") == "organic"
    ]
    assert organic and all("source" not in params(r) for r in organic)
    # GA4's own session attribution only from the day the export gained it.
    since = truth["config"]["last_click_days"]
    last_click_days = {r["event_date"] for r in rows if r.get("session_traffic_source_last_click")}
    assert last_click_days == {d.replace("-", "") for d in sorted(truth["ga4"]["final"])[-since:]}
    assert sum(r["event_name"] == "app_remove" for r in rows) == total["app_removes"] > 0
    # The quiet day: nobody but cookieless visitors.
    (quiet,) = truth["quiet_days"]
    quiet_rows = [r for r in rows if r["event_date"] == quiet.replace("-", "")]
    assert quiet_rows and all(r["user_pseudo_id"] is None for r in quiet_rows)
    users = truth["firestore"]["userCollection"]
    assert users["iso_timestamp_documents"] > 0 and users["unparsable_values"] >= 0
    iso = [
        line
        for line in _lines(demo_dir / "firestore" / "userCollection.jsonl")
        if b'"createdAt":"20' in line
    ]
    assert len(iso) == users["iso_timestamp_documents"]


def test_ad_spend_sheet_is_written_in_the_sheet_layout_with_its_planted_mistakes(demo_dir, truth):
    with (demo_dir / "sheets" / "ad_spend.csv").open(newline="", encoding="utf-8") as file:
        header, *rows = list(csv.reader(file))
    assert header == ["date", "channel", "source", "medium", "campaign", "spend", "currency",
                      "impressions", "clicks"]  # fmt: skip
    planted = truth["ad_spend"]
    numbered = dict(enumerate(rows, start=2))
    assert [n for n, row in numbered.items() if not any(row)] == planted["blank_rows"]
    assert (
        numbered[int(next(n for n, k in planted["bad_rows"].items() if k == "unknown_currency"))][6]
        == "WON"
    )
    assert len(rows) == planted["rows"] + len(planted["bad_rows"]) + len(planted["blank_rows"])
    billed = {row[6] for row in rows if any(row)}
    assert {"KRW", "USD"} <= billed  # the Meta account bills in dollars
