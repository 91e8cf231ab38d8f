"""The demo generator: deterministic, and its truth describes exactly the files it wrote."""

import csv
import hashlib
import itertools
import json
import math
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest
from conftest import START, small_config

from calback_platform.demo import behaviour as b
from calback_platform.demo.generator import SEOUL, generate, seoul_day_start_us
from calback_platform.settings import dbt_project_yml


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
    assert paywall["purchase_multiplier"] == {"control": 1.0, "test": 2.0}
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


# --- the planted experiments ------------------------------------------------------------------
REMINDER = "exp_reminder_push"
REMINDER_START = next(e.start for e in b.EXPERIMENTS if e.experiment_id == REMINDER)


@pytest.fixture(scope="module")
def spanning_dir(tmp_path_factory) -> Path:
    """Enough users to see a split, over days on both sides of exp_reminder_push's start, and no
    lost lines: the truth's counts can be recounted from the files exactly."""
    out = tmp_path_factory.mktemp("spanning")
    days = (REMINDER_START - START).days + 6
    generate(small_config(out, users=2000, days=days, bad_share=0))
    return out


def _microseconds(value: dict | str) -> int:
    """A Firestore timestamp, in either form the export writes it."""
    if isinstance(value, dict):
        return value["_seconds"] * 1_000_000 + value["_nanoseconds"] // 1000
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()) * 1_000_000


def _documents(directory: Path, collection: str) -> list[dict]:
    """The data of every document whose line parses (a missing id keeps its data)."""
    documents = []
    for line in _lines(directory / "firestore" / f"{collection}.jsonl"):
        try:
            documents.append(json.loads(line)["data"])
        except json.JSONDecodeError:
            continue
    return documents


def _assignments(directory: Path) -> dict[tuple[str, str], tuple[str, int]]:
    """(uid, experiment id): (variant, assigned at), checking no user has two of one."""
    documents = _documents(directory, "experimentAssignments")
    keys = Counter((d["uid"], d["experimentId"]) for d in documents)
    assert max(keys.values()) == 1
    return {
        (d["uid"], d["experimentId"]): (d["variant"], _microseconds(d["assignedAt"]))
        for d in documents
    }


def _signed_up(directory: Path) -> dict[str, int]:
    return {
        d["uid"]: _microseconds(d["createdAt"]) for d in _documents(directory, "userCollection")
    }


def _user_events(directory: Path) -> dict[str, list[dict]]:
    """Each user's events, those of their devices before they signed in on them included
    (the planted bad lines aside: no number timestamp, parameters no array), in time order."""
    rows = [
        row
        for row in _rows(directory)
        if str(row["event_timestamp"]).isdigit() and isinstance(row["event_params"], list)
    ]
    owners = {row["user_pseudo_id"]: row["user_id"] for row in rows if row["user_id"]}
    events = defaultdict(list)
    for row in rows:
        if owner := row["user_id"] or owners.get(row["user_pseudo_id"]):
            events[owner].append(row)
    for rows in events.values():
        rows.sort(key=lambda row: int(row["event_timestamp"]))
    return events


def _day(ts_us: int) -> date:
    return datetime.fromtimestamp(ts_us / 1e6, SEOUL).date()


def test_experiments_planted_in_the_truth(truth):
    verdicts = {e: planted["planted_verdict"] for e, planted in truth["experiments"].items()}
    assert verdicts == {
        "exp_paywall_v2": "guardrail breached",
        "exp_reco_widget": "invalid (SRM)",
        "exp_aa_check": "inconclusive",
        "exp_invite_copy": None,
        REMINDER: None,
    }
    assert truth["experiments"][REMINDER]["start"] == REMINDER_START.isoformat()
    pairs = [tuple(pair["experiments"]) for pair in truth["experiment_interactions"]]
    assert pairs == list(itertools.combinations(sorted(verdicts), 2))
    assert [
        tuple(pair["experiments"]) for pair in truth["experiment_interactions"] if pair["interacts"]
    ] == [("exp_invite_copy", REMINDER)]


def test_invite_copy_reverses_under_reminder_pushes():
    invite = {"exp_invite_copy": "test"}
    assert b.purchase_multiplier(invite) == pytest.approx(2.0)
    assert b.purchase_multiplier(invite | {REMINDER: "control"}) == pytest.approx(2.0)
    assert b.purchase_multiplier(invite | {REMINDER: "test"}) == pytest.approx(0.5)
    assert b.purchase_multiplier({"exp_invite_copy": "control", REMINDER: "test"}) == 1.0
    assert b.purchase_multiplier({"exp_paywall_v2": "test", **invite}) == pytest.approx(2.0 * 2.0)
    assert b.activity_multiplier({"exp_paywall_v2": "test", REMINDER: "test"}) == pytest.approx(
        0.75 * 1.3
    )


def test_an_experiment_that_starts_after_the_last_day_assigns_no_one(demo_dir, truth):
    assert truth["end"] < REMINDER_START.isoformat()
    assert truth["experiments"][REMINDER]["users_by_variant"] == {}
    assignments = _assignments(demo_dir)
    assert assignments and not [key for key in assignments if key[1] == REMINDER]
    properties = {p["key"] for row in _rows(demo_dir) for p in row["user_properties"]}
    running = {e.experiment_id for e in b.EXPERIMENTS} - {REMINDER}
    assert properties == {f"{experiment}_variant" for experiment in running}


def test_earlier_sign_ups_join_a_later_experiment_at_their_first_visit_from_its_start(
    spanning_dir,
):
    assignments, signed_up = _assignments(spanning_dir), _signed_up(spanning_dir)
    events = _user_events(spanning_dir)
    start_us = seoul_day_start_us(REMINDER_START)
    late = 0
    for uid, created in signed_up.items():
        rows = events[uid]
        sessions = [int(r["event_timestamp"]) for r in rows if r["event_name"] == "session_start"]
        variant, assigned_at = assignments.get((uid, REMINDER), (None, math.inf))
        if created >= start_us:  # at sign-up, with the experiments that were running
            assert assigned_at == assignments[(uid, "exp_paywall_v2")][1]
            continue
        # Assigned at the first session from the start on (none: never assigned) ...
        assert assigned_at == min((t for t in sessions if t >= start_us), default=math.inf)
        if variant is None:
            continue
        late += 1
        assert _day(assigned_at) in {_day(int(row["event_timestamp"])) for row in rows}
        # GA4 carries the variant from the assignment on, never before it.
        for row in (row for row in rows if row["user_id"]):
            carried = {p["key"]: p["value"]["string_value"] for p in row["user_properties"]}
            if int(row["event_timestamp"]) >= assigned_at:
                assert carried[f"{REMINDER}_variant"] == variant
            else:
                assert f"{REMINDER}_variant" not in carried
    assert late > 100


def test_a_dataset_starting_after_an_experiment_assigns_everyone_at_sign_up(tmp_path):
    generate(small_config(tmp_path, users=60, days=2, start=REMINDER_START))
    assignments = _assignments(tmp_path)
    by_user = defaultdict(set)
    for (uid, _), (_, assigned_at) in assignments.items():
        by_user[uid].add(assigned_at)
    assert {len(at) for at in by_user.values()} == {1}
    assert Counter(experiment for _, experiment in assignments)[REMINDER] > 50


def test_splits_are_the_planted_ones(spanning_dir):
    """The buggy assignment of exp_reco_widget shows as a split far from the intended 50/50;
    the others keep to it."""
    variants = Counter(
        (experiment, variant)
        for (_, experiment), (variant, _) in _assignments(spanning_dir).items()
    )
    for experiment in b.EXPERIMENTS:
        control = variants[(experiment.experiment_id, "control")]
        users = control + variants[(experiment.experiment_id, "test")]
        share = control / users
        z_from_even = (share - 0.5) / math.sqrt(0.25 / users)
        if experiment.experiment_id == "exp_reco_widget":
            assert z_from_even > 3.5
            assert share == pytest.approx(experiment.actual_split["control"], abs=0.03)
        else:
            assert abs(z_from_even) < 3.5


def test_truth_counts_the_assigned_users_and_their_purchases(spanning_dir):
    """users_by_variant and buyers_by_variant are the files' (bots and whales aside): buyers
    are the users who purchased from their assignment on."""
    truth = json.loads((spanning_dir / "truth.json").read_text())
    left_out = set(truth["bots"]) | set(truth["whales"])
    purchases = {
        uid: [int(row["event_timestamp"]) for row in rows if "purchase" in row["event_name"]]
        for uid, rows in _user_events(spanning_dir).items()
    }
    users, buyers = Counter(), Counter()
    for (uid, experiment), (variant, assigned_at) in _assignments(spanning_dir).items():
        if uid not in left_out:
            users[(experiment, variant)] += 1
            buyers[(experiment, variant)] += any(t >= assigned_at for t in purchases.get(uid, []))
    for experiment, planted in truth["experiments"].items():
        for variant, count in planted["users_by_variant"].items():
            assert count == users[(experiment, variant)]
            assert planted["buyers_by_variant"][variant] == buyers[(experiment, variant)]


def test_activity_follows_the_planted_multipliers(spanning_dir):
    """The paywall's test users come back less often (its guardrail), the reminder's more, on
    the days after their assignment."""
    truth = json.loads((spanning_dir / "truth.json").read_text())
    left_out = set(truth["bots"]) | set(truth["whales"])
    active_days = {
        uid: {_day(int(row["event_timestamp"])) for row in rows}
        for uid, rows in _user_events(spanning_dir).items()
    }
    days_after = defaultdict(list)
    for (uid, experiment), (variant, assigned_at) in _assignments(spanning_dir).items():
        if uid not in left_out:
            later = [day for day in active_days.get(uid, ()) if day > _day(assigned_at)]
            days_after[(experiment, variant)].append(len(later))

    def ratio(experiment: str) -> float:
        test, control = days_after[(experiment, "test")], days_after[(experiment, "control")]
        return (sum(test) / len(test)) / (sum(control) / len(control))

    assert ratio("exp_paywall_v2") < 0.85
    assert ratio(REMINDER) > 1.1
    assert 0.85 < ratio("exp_aa_check") < 1.15


# --- the planted drivers of revisits ----------------------------------------------------------
def test_revisit_drivers_act_on_app_users_alone_for_invites():
    assert b.week1_return_multiplier("web", confirmed=False, invite_accepted=True) == 1.0
    assert b.week1_return_multiplier("web", confirmed=True, invite_accepted=True) == 1.5
    assert b.week1_return_multiplier("ios", confirmed=True, invite_accepted=True) == (
        pytest.approx(1.5 * b.WEEK1_INVITE_RETURN_MULTIPLIER_APP)
    )
    assert b.week1_return_multiplier("android", confirmed=False, invite_accepted=False) == 1.0
    # The revisit model's dbt vars say the same windows.
    variables = dbt_project_yml()["vars"]
    first, last = b.REVISIT_LABEL_DAYS
    assert variables["revisit_feature_days"] == b.REVISIT_FEATURE_DAYS == first
    assert variables["revisit_label_days"] == last - first + 1
    assert variables["frequent_visit_days"] == b.FREQUENT_VISIT_DAYS


@pytest.fixture(scope="module")
def revisit_dir(tmp_path_factory) -> Path:
    """Days enough for the first week's sign-ups to see their whole label window, with the
    planted bad lines: the truth counts only what landed."""
    out = tmp_path_factory.mktemp("revisit")
    generate(small_config(out, users=1500, days=b.REVISIT_LABEL_DAYS[1] + 8))
    return out


def _sign_ups(directory: Path, events: dict[str, list[dict]]) -> dict[str, tuple[date, str]]:
    """Each user's sign-up day and platform, from their profile in Firestore; a profile that
    was lost (no JSON, no id) or whose createdAt is no timestamp gives none, as in the marts.
    The user's first event, which their sign-up session writes, agrees."""
    sign_ups = {}
    for line in _lines(directory / "firestore" / "userCollection.jsonl"):
        try:
            record = json.loads(line)
            created = _microseconds(record["data"]["createdAt"])
        except ValueError:  # JSONDecodeError is one
            continue
        if not record.get("document_id"):
            continue
        uid = record["data"]["uid"]
        sign_ups[uid] = (_day(created), record["data"]["platform"])
        if uid in events:
            first = events[uid][0]
            assert (_day(int(first["event_timestamp"])), first["platform"].lower()) == sign_ups[uid]
    return sign_ups


def test_revisit_truth_counts_the_frequent_visitors_in_the_files(revisit_dir):
    truth = json.loads((revisit_dir / "truth.json").read_text())
    revisit = truth["revisit"]
    assert revisit["drivers"] == {
        "meetings_confirmed": b.WEEK1_CONFIRM_RETURN_MULTIPLIER,
        "invites_accepted_on_app": b.WEEK1_INVITE_RETURN_MULTIPLIER_APP,
    }
    assert revisit["non_driver"] == "recommendation_clicks"
    events = _user_events(revisit_dir)
    last_day = date.fromisoformat(truth["end"])
    first, last = b.REVISIT_LABEL_DAYS
    users, frequent = Counter(), Counter()
    for uid, (signed_up, platform) in _sign_ups(revisit_dir, events).items():
        if uid in truth["bots"] or (last_day - signed_up).days < last:
            continue
        week1_end = seoul_day_start_us(signed_up) + b.REVISIT_FEATURE_DAYS * 86_400_000_000
        week1 = {
            row["event_name"] for row in events[uid] if int(row["event_timestamp"]) < week1_end
        }
        visits = {
            (_day(int(row["event_timestamp"])) - signed_up).days
            for row in events[uid]
            if row["event_name"] == "session_start"
        }
        became = sum(first <= day <= last for day in visits) >= b.FREQUENT_VISIT_DAYS
        confirmed = "meeting_confirm" in week1
        on_app = platform != "web" and "invite_accept" in week1
        for group in (
            "all",
            "confirmed" if confirmed else "not_confirmed",
            "accepted_on_app" if on_app else "not_accepted_on_app",
        ):
            users[group] += 1
            frequent[group] += became
    assert revisit["users"] == users["all"] > 100
    assert revisit["frequent"] == frequent["all"]
    for group in ("week1_confirm", "week1_invite_on_app"):
        rates = revisit[f"label_rate_by_{group}"]
        assert rates == {
            label: pytest.approx(frequent[label] / users[label], abs=1e-6) for label in rates
        }
    rates = revisit["label_rate_by_week1_confirm"]
    assert rates["confirmed"] > rates["not_confirmed"]
    assert revisit["odds_ratio_week1_confirm"] > 1
