"""The demo generator: deterministic, and its truth describes exactly the files it wrote."""

import hashlib
import json
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


def test_truth_counts_match_the_files(demo_dir, truth):
    final = truth["ga4"]["final"]
    assert len(final) == 8
    for day, counts in final.items():
        lines = (demo_dir / "ga4" / f"events_{day.replace('-', '')}.jsonl").read_text().splitlines()
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
    for path in (demo_dir / "ga4").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            sources.add(row["traffic_source"]["source"])
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
        "session_start",
    } <= names


def test_early_version_leaves_out_exactly_the_late_events(tmp_path, truth):
    early = generate(small_config(tmp_path, ga4_version="early"))
    for day, final_counts in truth["ga4"]["final"].items():
        early_counts = early["ga4"]["early"][day]
        lines = (tmp_path / "ga4" / f"events_{day.replace('-', '')}.jsonl").read_text().splitlines()
        assert len(lines) == early_counts["lines"]
        assert final_counts["lines"] > early_counts["lines"]
    assert sum(c.get("late_events", 0) for c in truth["ga4"]["final"].values()) > 0
