"""Synthetic Calback source data: a Firestore export and a GA4 export, plus the truth behind them.

Writes the local source layout of docs/architecture.md §3 under `out`:

    firestore/userCollection.jsonl, meetingsCollection.jsonl, experimentAssignments.jsonl
    ga4/events_YYYYMMDD.jsonl
    truth.json      every planted parameter and count, for tests to recover

Users are simulated one at a time and their events appended to per-day files, so memory stays flat
however many users are asked for. The same seed always writes the same bytes.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import math
import random
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

from calback_platform.demo import behaviour as b

SEOUL = timezone(timedelta(hours=9))
FIRESTORE_ROOT = "projects/calback/databases/(default)/documents"
STREAM_IDS = {"ios": "3001001", "android": "3001002", "web": "3001003"}
APP_ID = {"ios": "com.calback.ios", "android": "com.calback.android", "web": None}


@dataclass(frozen=True)
class GeneratorConfig:
    out: Path
    users: int = 3000
    days: int = 120
    start: date = date(2024, 3, 1)
    seed: int = 7
    bad_share: float = 0.002
    duplicate_share: float = 0.004
    late_share: float = 0.03
    # "final" writes each day as GA4 finally leaves it; "early" leaves out the events that GA4
    # only adds to a day's table in the following hours (late events).
    ga4_version: str = "final"
    # Days in the middle of the range on which no one uses the app (an outage): only
    # cookieless pings reach the export.
    quiet_days: int = 1
    # Documents whose timestamps are ISO strings, as the extension's import script wrote them
    # for a while (Nov 2023) instead of {_seconds, _nanoseconds}.
    iso_timestamp_share: float = 0.1
    # The last days whose events carry session_traffic_source_last_click, as if the export
    # gained it then (it did in July 2024); the days before carry only the landing's data.
    last_click_days: int = 30

    def quiet_day_offsets(self) -> set[int]:
        middle = self.days // 2
        return set(range(middle, min(self.days, middle + self.quiet_days)))


@dataclass
class Device:
    pseudo_id: str | None  # None: a visitor who denied analytics cookies (consent mode)
    platform: str
    first_touch_us: int
    session_number: int = 0
    session_id: int = 0
    # The current session's own campaign (a behaviour.TRAFFIC_SOURCES row), the campaign GA4
    # credits it to (its own, else the last non-direct one within the look-back; None: direct),
    # and how many of its events still carry the landing's campaign data.
    campaign: tuple | None = None
    attributed: tuple | None = None
    tagged_events: int = 0
    last_campaign: tuple[tuple, int] | None = None  # (campaign, when its session started)
    requests: int = 0  # web: batches sent in the session (GA4's batch_ordering_id)


@dataclass
class Event:
    ts_us: int
    name: str
    device: Device
    user_id: str | None
    params: dict[str, Any] = field(default_factory=dict)
    # A purchase: (amount, currency).
    price: tuple[float, str] | None = None
    # Events GA4 sent in one batch share the bundle; web events also say their place in it.
    bundle: int | None = None
    batch_index: int = 0
    # The device's session at the time of the event (GA4's ga_session_id / ga_session_number),
    # its campaign and attribution, whether this event carries the landing's campaign data, and
    # the web batch the event was sent in.
    session: tuple[int, int] = field(init=False)
    campaign: tuple | None = field(init=False)
    attributed: tuple | None = field(init=False)
    tagged: bool = field(init=False)
    batch: int = field(init=False)

    def __post_init__(self) -> None:
        self.session = (self.device.session_id, self.device.session_number)
        self.campaign, self.attributed = self.device.campaign, self.device.attributed
        self.tagged = self.device.tagged_events > 0 and self.campaign is not None
        self.device.tagged_events -= self.tagged
        if not self.batch_index:
            self.device.requests += 1
        self.batch = self.device.requests


def seoul_day_start_us(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=SEOUL).timestamp()) * 1_000_000


def firestore_timestamp(ts_us: int) -> dict[str, int]:
    return {"_seconds": ts_us // 1_000_000, "_nanoseconds": (ts_us % 1_000_000) * 1000}


def iso_timestamp(value: dict[str, int]) -> str:
    """A timestamp as the extension's import script wrote it in Nov 2023 (ms precision)."""
    moment = datetime.fromtimestamp(value["_seconds"], timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{value['_nanoseconds'] // 1_000_000:03d}Z"


def _pick(rng: random.Random, weighted: tuple) -> tuple:
    return rng.choices(weighted, weights=[w[-1] for w in weighted])[0]


class _Ga4Writer:
    """Appends events to per-day files, planting duplicates, bad lines, values of the wrong type
    and late events, and counts what it wrote."""

    # Lines no event can be read from: cut JSON, a timestamp that is no number, parameters
    # that are no array, bytes that are not UTF-8.
    BAD_REASONS = ("unparsable_json", "wrong_type", "params_not_array", "not_utf8")

    def __init__(self, config: GeneratorConfig, stack: ExitStack, rng: random.Random):
        self.config, self.stack, self.rng = config, stack, rng
        self.dir = config.out / "ga4"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.files: dict[date, Any] = {}
        self.counts: dict[str, dict[str, Counter]] = {
            v: defaultdict(Counter) for v in ("final", "early")
        }

    def _file(self, day: date):
        if day not in self.files:
            path = self.dir / f"events_{day:%Y%m%d}.jsonl"
            self.files[day] = self.stack.enter_context(path.open("wb"))
        return self.files[day]

    def write(self, event: Event, row: dict, tallies: dict[str, float] | None = None) -> bool:
        """Write one event's row; `tallies` (what the row carries) are counted if it lands.
        Returns whether it lands in the final export."""
        day = datetime.fromtimestamp(event.ts_us / 1e6, SEOUL).date()
        draw = self.rng.random()
        late = self.rng.random() < self.config.late_share
        bad_reason, duplicates, rejected = None, 0, False
        if draw < self.config.bad_share:
            bad_reason = self.BAD_REASONS[self.rng.randrange(len(self.BAD_REASONS))]
        elif draw < self.config.bad_share + self.config.duplicate_share:
            duplicates = 1
        elif draw < 1.5 * self.config.bad_share + self.config.duplicate_share:
            rejected = True
        line = self._render(row, bad_reason, rejected)
        versions = ("final",) if late else ("final", "early")
        for version in versions:
            counts = self.counts[version][day.isoformat()]
            counts["lines"] += 1 + duplicates
            counts["duplicate_lines"] += duplicates
            if bad_reason:
                counts[f"bad_{bad_reason}"] += 1
                continue
            counts["events"] += 1
            counts["rejected_values"] += rejected
            counts.update(tallies or {})
        if late:
            self.counts["final"][day.isoformat()]["late_events"] += 1
        if self.config.ga4_version in versions:
            self._file(day).write((line + b"\n") * (1 + duplicates))
        return bad_reason is None

    def _render(self, row: dict, bad_reason: str | None, rejected: bool) -> bytes:
        if bad_reason == "wrong_type":
            row = {**row, "event_timestamp": "yesterday evening"}
        elif bad_reason == "params_not_array":
            row = {**row, "event_params": json.dumps(row["event_params"])}
        elif rejected:  # an optional field of the wrong type: lands as NULL, kept aside
            row = {**row, "user_ltv": {"revenue": "unknown", "currency": "KRW"}}
        line = json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode()
        if bad_reason == "unparsable_json":
            line = line[: len(line) // 2]
        elif bad_reason == "not_utf8":
            line = line.replace(b'"event_name":"', b'"event_name":"\xff', 1)
        return line


class _FirestoreWriter:
    """Writes a collection's export, planting unparsable lines, missing ids, values that are no
    timestamp, and timestamps in the import script's ISO form."""

    def __init__(self, config: GeneratorConfig, stack: ExitStack, rng: random.Random, name: str):
        directory = config.out / "firestore"
        directory.mkdir(parents=True, exist_ok=True)
        self.file = stack.enter_context((directory / f"{name}.jsonl").open("w", encoding="utf-8"))
        self.config, self.rng, self.name = config, rng, name
        self.counts: Counter = Counter()

    def write(self, document_id: str, data: dict) -> bool:
        """Whether the document lands whole: parsable, with its id and its timestamps."""
        draw = self.rng.random()
        record = {
            "document_name": f"{FIRESTORE_ROOT}/{self.name}/{document_id}",
            "document_id": document_id,
            "data": data,
        }
        share = self.config.bad_share * 5  # collections are small: plant enough to see
        whole = False
        if draw < share / 3:
            line = json.dumps(record)[:40]
            self.counts["bad_unparsable_json"] += 1
        elif draw < 2 * share / 3:
            del record["document_id"]
            record["document_name"] = None
            line = json.dumps(record)
            self.counts["bad_missing_id"] += 1
        else:
            whole = not (draw < share and "createdAt" in data)
            if not whole:
                record["data"] = {**data, "createdAt": "not a timestamp"}
                self.counts["unparsable_values"] += 1
            elif draw < share + self.config.iso_timestamp_share:
                # Written by the import script of Nov 2023: timestamps as ISO strings.
                record["data"] = {
                    key: iso_timestamp(value)
                    if isinstance(value, dict) and "_seconds" in value
                    else value
                    for key, value in data.items()
                }
                self.counts["iso_timestamp_documents"] += 1
            line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
            self.counts["documents"] += 1
        self.file.write(line + "\n")
        return whole


class _SessionTruth:
    """What one user's landed events make of their sessions, per channel GA4 credits them to:
    sessions, engaged ones (all but the planted bounces), new users (a device's first session),
    revenue in won, and sessions whose events run past midnight."""

    def __init__(self, bounces: set[tuple[str, int]]):
        self.bounces = bounces
        self.sessions: dict[tuple[str, int], dict] = {}

    def add(self, event: Event) -> None:
        if event.device.pseudo_id is None or not event.session[0]:
            return
        key = (event.device.pseudo_id, event.session[0])
        channel = event.attributed[3] if event.attributed else b.DIRECT
        session = self.sessions.setdefault(
            key, {"channel": channel, "days": set(), "new": event.session[1] == 1, "revenue": 0}
        )
        session["days"].add(datetime.fromtimestamp(event.ts_us / 1e6, SEOUL).date())
        if event.price:
            session["revenue"] += event.price[0] * b.RATES_TO_KRW[event.price[1]]

    def tallies(self) -> Counter:
        tallies: Counter = Counter()
        for key, session in self.sessions.items():
            channel = session["channel"]
            tallies[f"sessions:{channel}"] += 1
            tallies[f"engaged_sessions:{channel}"] += key not in self.bounces
            tallies[f"new_users:{channel}"] += session["new"]
            tallies[f"revenue_krw:{channel}"] += session["revenue"]
            tallies["midnight_sessions"] += len(session["days"]) > 1
        return tallies


class _RevisitTruth:
    """Whether one human user became a frequent visitor, from their landed events: the Seoul
    days since sign-up of the session starts of all their devices (a new device's anonymous
    first session too), and the week-1 behaviours the planted drivers read. A user whose label
    window runs past the last day adds nothing."""

    # The groups the truth compares: (name, its two labels).
    GROUPS = (
        ("week1_confirm", ("confirmed", "not_confirmed")),
        ("week1_invite_on_app", ("accepted_on_app", "not_accepted_on_app")),
    )

    def __init__(self, day0: date, platform: str, last_day: date):
        self.day0, self.app = day0, platform != "web"
        self.complete = day0 + timedelta(b.REVISIT_LABEL_DAYS[1]) <= last_day
        self.week1_end = seoul_day_start_us(day0 + timedelta(b.REVISIT_FEATURE_DAYS))
        self.visit_days: set[int] = set()
        self.week1_events: set[str] = set()

    def add(self, event: Event) -> None:
        if event.ts_us < self.week1_end:
            self.week1_events.add(event.name)
        if event.name == "session_start":
            day = datetime.fromtimestamp(event.ts_us / 1e6, SEOUL).date()
            self.visit_days.add((day - self.day0).days)

    def tallies(self) -> Counter:
        if not self.complete:
            return Counter()
        first, last = b.REVISIT_LABEL_DAYS
        frequent = sum(first <= day <= last for day in self.visit_days) >= b.FREQUENT_VISIT_DAYS
        # What the data shows: a behaviour whose line was lost still drove the user, unseen.
        had = {
            "week1_confirm": "meeting_confirm" in self.week1_events,
            "week1_invite_on_app": self.app and "invite_accept" in self.week1_events,
        }
        tallies = Counter(users=1, frequent=frequent)
        for group, labels in self.GROUPS:
            label = labels[0] if had[group] else labels[1]
            tallies[f"users:{label}"] += 1
            tallies[f"frequent:{label}"] += frequent
        return tallies

    @classmethod
    def summary(cls, tallies: Counter) -> dict:
        """The truth's revisit section: the planted drivers, and per group the share of users
        who became frequent and the realised odds ratio (confounded: engaged users do more of
        everything in their first week)."""
        summary = {
            "feature_days": b.REVISIT_FEATURE_DAYS,
            "label_days": list(b.REVISIT_LABEL_DAYS),
            "frequent_visit_days": b.FREQUENT_VISIT_DAYS,
            "drivers": {
                "meetings_confirmed": b.WEEK1_CONFIRM_RETURN_MULTIPLIER,
                "invites_accepted_on_app": b.WEEK1_INVITE_RETURN_MULTIPLIER_APP,
            },
            "non_driver": "recommendation_clicks",
            "users": tallies["users"],
            "frequent": tallies["frequent"],
            "note": "humans (whales included, bots not) whose profile landed whole and whose "
            "label window ends by the last day; "
            "visit days and week-1 behaviours from the events that landed in the GA4 export",
        }
        for group, labels in cls.GROUPS:
            rates = {
                label: round(tallies[f"frequent:{label}"] / tallies[f"users:{label}"], 6)
                if tallies[f"users:{label}"]
                else None
                for label in labels
            }
            summary[f"label_rate_by_{group}"] = rates
            summary[f"odds_ratio_{group}"] = _odds_ratio(*rates.values())
        return summary


def _odds_ratio(rate: float | None, baseline: float | None) -> float | None:
    if rate is None or baseline is None or baseline in (0, 1) or rate == 1:
        return None
    return round(rate / (1 - rate) / (baseline / (1 - baseline)), 4)


class _AdSpendSheet:
    """The marketer's ad-spend sheet, as the local stand-in file in the sheet's layout: a row per
    day and paid campaign (spend = the planted CAC x that day's sign-ups, +-10%, billed in the
    ad account's currency), the flat daily budgets, and a few rows a person gets wrong."""

    HEADER = ("date", "channel", "source", "medium", "campaign", "spend", "currency",
              "impressions", "clicks")  # fmt: skip
    # Rows a person gets wrong, each kind once (blank cells mean "the day's date" for the
    # date column), and the blank row a sheet always ends up with.
    BAD_ROWS: ClassVar[dict[str, list]] = {
        "unparsable_date": ["2024-02-30", "", "google", "cpc", "brand_search", "15000", "KRW"],
        "negative_spend": [None, "", "instagram", "cpc", "spring_promo", "-9000", "KRW"],
        "non_numeric_spend": [None, "", "facebook", "cpc", "meet_faster", "about 20", "USD"],
        "unknown_currency": [None, "", "google", "cpc", "brand_search", "12000", "WON"],
        "unknown_channel": [None, "TikTok Ads", "", "", "", "50000", "KRW"],
        "no_channel": [None, "", "", "", "", "10000", "KRW"],
    }

    def __init__(self, config: GeneratorConfig, signups: Counter):
        self.config, self.signups = config, signups
        self.rng = random.Random(config.seed + 5)
        self.channels = {row[:3]: row[3] for row in (*b.TRAFFIC_SOURCES, *b.RETURN_CAMPAIGNS)}

    def write(self) -> dict:
        """Write `sheets/ad_spend.csv`; returns its truth: spend per channel in won, and where
        the bad and blank rows are (sheet row numbers, the header being row 1)."""
        rng, rows, spend_krw = self.rng, [], Counter()
        for offset in range(self.config.days):
            day = (self.config.start + timedelta(offset)).isoformat()
            for campaign, (cac, currency) in b.PAID_CAMPAIGN_CAC_KRW.items():
                signups = self.signups[(offset, campaign)]
                if signups:
                    krw = cac * signups * rng.uniform(0.9, 1.1)
                    clicks = signups * rng.randrange(15, 25)
                    amount = self._billed(krw, currency)
                    spend_krw[self.channels[campaign]] += amount * b.RATES_TO_KRW[currency]
                    rows.append([day, "", *campaign, amount, currency, clicks * 40, clicks])
            for channel, *campaign, krw in b.DAILY_BUDGETS_KRW:
                spend_krw[channel or self.channels[tuple(campaign)]] += krw
                rows.append([day, channel, *campaign, krw, "KRW", krw // 10, ""])
        planted: dict[int, str] = {}  # id() of each planted row: its kind
        for kind, row in self.BAD_ROWS.items():
            at = rng.randrange(len(rows))
            rows.insert(at, [row[0] or rows[at][0], *row[1:], "", ""])
            planted[id(rows[at])] = kind
        rows.insert(rng.randrange(len(rows)), [""] * len(self.HEADER))
        bad = {n: planted[id(row)] for n, row in enumerate(rows, start=2) if id(row) in planted}
        blank = [n for n, row in enumerate(rows, start=2) if not any(row)]
        path = self.config.out / "sheets" / "ad_spend.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows([self.HEADER, *rows])
        return {
            "spend_krw": {k: round(v, 2) for k, v in sorted(spend_krw.items())},
            "bad_rows": {str(number): kind for number, kind in sorted(bad.items())},
            "blank_rows": blank,
            "rows": len(rows) - len(bad) - len(blank),
        }

    @staticmethod
    def _billed(krw: float, currency: str) -> float | int:
        amount = krw / b.RATES_TO_KRW[currency]
        return round(amount) if currency in ("KRW", "JPY") else round(amount, 2)


class _Assignments:
    """One user's experiment assignments: the variant per experiment id, and when it was made."""

    def __init__(self) -> None:
        self.variants: dict[str, str] = {}
        self.assigned_at: dict[str, int] = {}
        # The experiments whose assignment document landed whole: those the marts can count.
        self.recorded: set[str] = set()
        # What the variants do to the daily chance of being active; read before a day's visits,
        # so an assignment made on a visit counts from the next day on.
        self.activity_multiplier = 1.0

    def add(self, experiment_id: str, variant: str, ts_us: int) -> None:
        self.variants[experiment_id] = variant
        self.assigned_at[experiment_id] = ts_us
        self.activity_multiplier = b.activity_multiplier(self.variants)

    def variants_at(self, ts_us: int) -> dict[str, str]:
        """The variants of the experiments the user is assigned to by `ts_us`."""
        if all(at <= ts_us for at in self.assigned_at.values()):
            return self.variants
        return {e: v for e, v in self.variants.items() if self.assigned_at[e] <= ts_us}


class _Simulation:
    def __init__(self, config: GeneratorConfig, stack: ExitStack):
        self.config = config
        self.rng = random.Random(config.seed)
        # Write-time decisions use their own stream so they never shift the behaviour stream.
        self.ga4 = _Ga4Writer(config, stack, random.Random(config.seed + 1))
        self.users = _FirestoreWriter(
            config, stack, random.Random(config.seed + 2), "userCollection"
        )
        self.meetings = _FirestoreWriter(
            config, stack, random.Random(config.seed + 3), "meetingsCollection"
        )
        self.assignments = _FirestoreWriter(
            config, stack, random.Random(config.seed + 4), "experimentAssignments"
        )
        # Assignments draw from their own stream: adding an experiment shifts no behaviour.
        self.assignment_rng = random.Random(config.seed + 6)
        self.end_us = seoul_day_start_us(config.start + timedelta(days=config.days))
        self.signed_up: list[str] = []
        self.meeting_count = 0
        self.variant_users: dict[str, Counter] = {e.experiment_id: Counter() for e in b.EXPERIMENTS}
        self.variant_buyers: dict[str, Counter] = {
            e.experiment_id: Counter() for e in b.EXPERIMENTS
        }
        self.bots: list[str] = []
        self.whales: list[str] = []
        self.multi_device_users = 0
        # Acquisition: sign-ups per (day offset, campaign), bounced sessions, and the truth per
        # channel of the sessions that landed.
        self.signups: Counter = Counter()
        self.bounces: set[tuple[str, int]] = set()
        self.acquisition: Counter = Counter()
        self.revisits: Counter = Counter()
        last_click_since = config.start + timedelta(config.days - config.last_click_days)
        self.last_click_since = f"{last_click_since:%Y%m%d}"

    # --- population -------------------------------------------------------------------------
    def run(self) -> None:
        n = self.config.users
        days = self.config.days
        quiet = self.config.quiet_day_offsets()
        # Sign-ups grow over time (ads scale up) with a weekend bump; none while the app is down.
        weights = [
            0
            if d in quiet
            else (1 + 2 * d / days)
            * (1.25 if (self.config.start + timedelta(d)).weekday() >= 5 else 1)
            for d in range(days)
        ]
        signup_days = sorted(self.rng.choices(range(days), weights=weights, k=n))
        special = self.rng.sample(range(n), min(n, b.BOT_COUNT + b.WHALE_COUNT))
        bots = set(special[: b.BOT_COUNT])
        whales = set(special[b.BOT_COUNT :])
        for index, signup_day in enumerate(signup_days):
            kind = "bot" if index in bots else "whale" if index in whales else "user"
            self.simulate_user(f"u_{index + 1:06d}", signup_day, kind)
        for day in range(days):
            self.cookieless_visitors(self.config.start + timedelta(day))

    def cookieless_visitors(self, day: date) -> None:
        """Web visitors who denied analytics cookies: GA4 exports their pings without ids."""
        rng = self.rng
        expected = self.config.users * b.COOKIELESS_VISITORS_PER_1000_USERS / 1000
        for _ in range(max(1, round(expected * rng.uniform(0.5, 1.5)))):
            t = seoul_day_start_us(day) + rng.randrange(0, 23 * 3600) * 1_000_000
            device = Device(None, "web", t)
            events: list[Event] = []
            t = self._session(events, device, None, t)
            for _ in range(rng.randrange(1, 4)):
                t += rng.randrange(5, 120) * 1_000_000
                events.append(Event(t, "page_view", device, None, self._view_params(device)))
            for event in events:
                self.ga4.write(event, self._ga4_row(event, None, {}), self._tallies(event))

    def simulate_user(self, uid: str, signup_day: int, kind: str) -> None:
        rng = self.rng
        source = _pick(rng, b.TRAFFIC_SOURCES)
        if source[0] == "invite" and not self.signed_up:
            source = b.TRAFFIC_SOURCES[0]
        platform = "web" if kind == "bot" else _pick(rng, b.PLATFORMS)[0]
        day0 = self.config.start + timedelta(signup_day)
        t = seoul_day_start_us(day0) + rng.randrange(7 * 3600, 20 * 3600) * 1_000_000
        device = Device(self._pseudo_id(), platform, t)
        devices = [device]
        engagement = 3.0 if kind in ("bot", "whale") else rng.lognormvariate(0, 0.55)
        assignments = _Assignments()
        later: list[b.Experiment] = []  # assign the user at the first visit from their start on
        for experiment in b.EXPERIMENTS:
            if experiment.start > day0:
                later.append(experiment)
            else:
                self._assign(uid, experiment, t, assignments)
        events: list[Event] = []
        user = {
            "uid": uid,
            "displayName": f"Calback user {uid[2:]}",
            "email": f"{uid}@example.com",
            "phone": f"+82-10-{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}",
            "platform": platform,
            "createdAt": None,
            "lastLoginAt": None,
            "isPremium": False,
            "premiumSince": None,
            "marketingConsent": rng.random() < 0.4,
            "referrerUid": rng.choice(self.signed_up) if source[0] == "invite" else None,
        }
        state = {
            "confirmed": False,
            "purchased": False,
            "source": source,
            "currency": _pick(rng, b.PRICES),
        }

        # Day 0: install, onboarding (anonymous until sign-up), maybe a first meeting. The first
        # session carries where the user came from.
        self.signups[(signup_day, source[:3])] += 1
        t = self._session(events, device, None, t, source)
        events.append(Event(t, "first_open", device, None))
        t += rng.randrange(2, 20) * 1_000_000
        events.append(Event(t, "onboarding_start", device, None))
        t += rng.randrange(10, 90) * 1_000_000
        events.append(
            Event(t, "sign_up", device, uid, {"method": rng.choice(["apple", "google", "kakao"])})
        )
        user["createdAt"] = firestore_timestamp(t)
        self.signed_up.append(uid)
        if rng.random() < b.P_ONBOARDING_COMPLETE or kind != "user":
            t += rng.randrange(20, 120) * 1_000_000
            events.append(Event(t, "onboarding_complete", device, uid))
            state["onboarded"] = True
            t = self._activity(events, device, uid, t, state, assignments, kind, first_day=True)
        last_seen = t

        quiet = self.config.quiet_day_offsets()
        week1_end = seoul_day_start_us(day0 + timedelta(b.REVISIT_FEATURE_DAYS))
        for k in range(1, self.config.days - signup_day):
            day = day0 + timedelta(k)
            chance = (
                engagement
                * (b.RETENTION_EARLY * math.exp(-k / b.RETENTION_TAU_DAYS) + b.RETENTION_FLOOR)
                * assignments.activity_multiplier
            )
            if k >= b.REVISIT_FEATURE_DAYS:  # the planted drivers of revisits
                chance *= b.week1_return_multiplier(
                    platform,
                    confirmed=state.get("confirmed_at", math.inf) < week1_end,
                    invite_accepted=state.get("invite_accepted_at", math.inf) < week1_end,
                )
            if kind == "bot":
                chance = 0.8
            if rng.random() >= min(chance, 0.97) or not state.get("onboarded"):
                continue
            if signup_day + k in quiet:
                continue
            if len(devices) == 1 and kind == "user" and rng.random() < b.SECOND_DEVICE_SHARE / 3:
                other = "web" if platform != "web" else rng.choice(["ios", "android"])
                devices.append(Device(self._pseudo_id(), other, seoul_day_start_us(day)))
                self.multi_device_users += 1
            tomorrow_is_open = signup_day + k + 1 < self.config.days and (
                signup_day + k + 1 not in quiet
            )
            # The day's visits in time order, so each device's last campaign is its latest.
            visits = 1 + (rng.random() < 0.35)
            starts = sorted(rng.randrange(7 * 3600, 21 * 3600) for _ in range(visits))
            for visit, start in enumerate(starts, start=1):
                dev = rng.choice(devices)
                t = seoul_day_start_us(day) + start * 1_000_000
                late = visit == visits and kind == "user" and tomorrow_is_open
                if late and rng.random() < b.P_LATE_NIGHT_SESSION:
                    t = seoul_day_start_us(day) + rng.randrange(23 * 3600 + 50 * 60, 86_340) * 10**6
                for experiment in [e for e in later if e.start <= day]:
                    self._assign(uid, experiment, t, assignments)
                    later.remove(experiment)
                # A new device is anonymous for its first screens, until the user logs in.
                anonymous_first = dev.session_number == 0 and dev is not device
                came_back = _pick(rng, (*b.RETURN_CAMPAIGNS, (None, 0.95)))
                campaign = came_back if came_back[0] else None
                t = self._session(events, dev, None if anonymous_first else uid, t, campaign)
                if anonymous_first:
                    t += rng.randrange(5, 30) * 1_000_000
                    events.append(Event(t, self._view_name(dev), dev, None, self._view_params(dev)))
                elif kind == "user" and rng.random() < b.P_BOUNCE_SESSION:
                    t += rng.randrange(2, 8) * 1_000_000
                    bounce = self._view_params(dev)
                    bounce["engagement_time_msec"] = rng.randrange(*b.BOUNCE_ENGAGEMENT_MSEC)
                    events.append(Event(t, self._view_name(dev), dev, uid, bounce))
                    self.bounces.add((dev.pseudo_id, dev.session_id))
                    continue
                t = self._activity(events, dev, uid, t, state, assignments, kind)
                last_seen = max(last_seen, t)

        for dev in devices:  # some app users uninstall some days after their last visit
            if dev.platform != "web" and kind == "user" and rng.random() < b.P_APP_REMOVE:
                removed = last_seen + rng.randrange(1, 10) * 86_400_000_000
                dev.campaign, dev.attributed, dev.session_id = None, None, 0
                events.append(Event(removed, "app_remove", dev, uid))
        user["lastLoginAt"] = firestore_timestamp(last_seen)
        if state["purchased"]:
            user["isPremium"] = True
            user["premiumSince"] = firestore_timestamp(state["purchased_at"])
        if kind == "bot":
            self.bots.append(uid)
        elif kind == "whale":
            self.whales.append(uid)
        else:
            for experiment_id, variant in assignments.variants.items():
                if experiment_id not in assignments.recorded:
                    continue  # its document was lost: no data source knows of it
                self.variant_users[experiment_id][variant] += 1
                self.variant_buyers[experiment_id][variant] += state["purchased"] and (
                    state["purchased_at"] >= assignments.assigned_at[experiment_id]
                )
        profile_landed = self.users.write(uid, user)
        sessions = _SessionTruth(self.bounces)
        revisit = _RevisitTruth(day0, platform, self.config.start + timedelta(self.config.days - 1))
        for event in sorted(events, key=lambda e: e.ts_us):
            if event.ts_us < self.end_us and not self._in_quiet_day(event):
                row = self._ga4_row(event, state["source"], assignments.variants_at(event.ts_us))
                if self.ga4.write(event, row, self._tallies(event)) and kind != "bot":
                    sessions.add(event)
                    revisit.add(event)
                    if event.name == "sign_up":
                        self.acquisition[f"signups:{source[3]}"] += 1
        self.acquisition.update(sessions.tallies())
        if kind != "bot" and profile_landed:  # a lost profile has no sign-up day
            self.revisits.update(revisit.tallies())

    def _in_quiet_day(self, event: Event) -> bool:
        """A late evening's activity that would run into a day the app is down."""
        day = datetime.fromtimestamp(event.ts_us / 1e6, SEOUL).date()
        return (day - self.config.start).days in self.config.quiet_day_offsets()

    @staticmethod
    def _tallies(event: Event) -> dict[str, float]:
        """What a landed event adds to the truth, beyond its count."""
        tallies: dict[str, float] = {}
        if event.device.pseudo_id is None:
            tallies["cookieless_events"] = 1
        if event.bundle is not None:
            tallies["batched_events"] = 1
        if event.name == "screen_view" and "firebase_screen" not in event.params:
            tallies["screen_class_only_views"] = 1
        if event.name == "session_start" and event.tagged and event.campaign[4] != "gclid":
            tallies[f"campaign_sessions:{event.campaign[0]}/{event.campaign[1]}"] = 1
        if event.name == "app_remove":
            tallies["app_removes"] = 1
        if event.price:
            amount, currency = event.price
            tallies["purchases"] = 1
            tallies[f"revenue:{currency}"] = amount
        return tallies

    def _assign(
        self, uid: str, experiment: b.Experiment, t: int, assignments: _Assignments
    ) -> None:
        split = experiment.actual_split
        variant = self.assignment_rng.choices(list(split), weights=list(split.values()))[0]
        assignments.add(experiment.experiment_id, variant, t)
        if self.assignments.write(
            f"{uid}_{experiment.experiment_id}",
            {
                "uid": uid,
                "experimentId": experiment.experiment_id,
                "variant": variant,
                "assignedAt": firestore_timestamp(t),
            },
        ):
            assignments.recorded.add(experiment.experiment_id)

    # --- sessions and behaviour ----------------------------------------------------------------
    def _pseudo_id(self) -> str:
        return f"{self.rng.getrandbits(40):012x}.{self.rng.randrange(10**9, 10**10)}"

    def _session(
        self, events: list[Event], device: Device, uid: str | None, t: int, campaign=None
    ) -> int:
        device.session_number += 1
        device.session_id = t // 1_000_000
        device.campaign, device.requests = campaign, 0
        # The landing's campaign data rides on the session's first two events (so one lost
        # line does not lose it); a direct session keeps a recent campaign's credit.
        device.tagged_events = 2 if campaign else 0
        if campaign:
            device.last_campaign = (campaign, t)
        recent = device.last_campaign
        lookback_us = b.ATTRIBUTION_LOOKBACK_DAYS * 86_400_000_000
        device.attributed = recent[0] if recent and t - recent[1] <= lookback_us else None
        events.append(Event(t, "session_start", device, uid))
        return t + self.rng.randrange(1, 5) * 1_000_000

    def _view_name(self, device: Device) -> str:
        return "page_view" if device.platform == "web" else "screen_view"

    def _view_params(self, device: Device) -> dict:
        screen = self.rng.choice(["home", "calendar", "meeting_detail", "profile", "search"])
        engagement = {"engagement_time_msec": self.rng.randrange(800, 60_000)}
        if device.platform == "web":
            return {"page_location": f"https://calback.app/{screen}", **engagement}
        suffix = "Activity" if device.platform == "android" else "ViewController"
        screen_class = screen.title().replace("_", "") + suffix
        if device.platform == "android" and self.rng.random() < b.P_SCREEN_CLASS_ONLY:
            return {"firebase_screen_class": screen_class, **engagement}
        return {"firebase_screen": screen, "firebase_screen_class": screen_class, **engagement}

    def _activity(self, events, device, uid, t, state, assignments, kind, first_day=False) -> int:
        rng = self.rng
        if kind == "bot":
            for _ in range(rng.randrange(*b.BOT_PAGE_VIEWS_PER_DAY)):
                t += rng.randrange(2, 6) * 1_000_000
                events.append(Event(t, "page_view", device, uid, self._view_params(device)))
            return t
        for _ in range(rng.randrange(2, 7)):
            t += rng.randrange(5, 120) * 1_000_000
            events.append(Event(t, self._view_name(device), device, uid, self._view_params(device)))
        if assignments.variants_at(t).get("exp_reco_widget") == "test" and rng.random() < 0.5:
            for _ in range(rng.randrange(1, 4)):
                t += rng.randrange(2, 30) * 1_000_000
                item = f"slot_{rng.randrange(1, 40)}"
                events.append(Event(t, "recommendation_impression", device, uid, {"item_id": item}))
                if rng.random() < 0.2:
                    t += rng.randrange(1, 10) * 1_000_000
                    events.append(Event(t, "recommendation_click", device, uid, {"item_id": item}))
        if rng.random() < (0.9 if first_day else 0.3) * b.P_MEETING_CREATE:
            t = self._meeting(events, device, uid, t, state, assignments, kind)
        if rng.random() < 0.25 and len(self.signed_up) > 1:
            t += rng.randrange(5, 60) * 1_000_000
            events.append(Event(t, "invite_accept", device, uid))
            state.setdefault("invite_accepted_at", t)  # the other planted driver of revisits
            if rng.random() < b.P_VOTE_AFTER_INVITE_ACCEPT:
                t += rng.randrange(5, 60) * 1_000_000
                events.append(Event(t, "vote_submit", device, uid))
        if kind != "bot" and rng.random() < b.P_BATCHED_ENGAGEMENT:
            # One batch: two user_engagement events, one timestamp, different engagement times.
            t += rng.randrange(5, 60) * 1_000_000
            bundle = rng.randrange(1, 10**9)
            # Distinct events: their engagement times differ (else they would be one event).
            for index, msec in enumerate(rng.sample(range(100, 30_000), 2)):
                engagement = {"engagement_time_msec": msec}
                events.append(
                    Event(t, "user_engagement", device, uid, engagement, None, bundle, index)
                )
        if kind == "whale" and state["confirmed"] and rng.random() < 0.3:
            amount = rng.randrange(*b.WHALE_PURCHASE_KRW)
            t = self._purchase(events, device, uid, t, state, (amount, "KRW"))
        return t

    def _meeting(self, events, device, uid, t, state, assignments, kind) -> int:
        rng = self.rng
        self.meeting_count += 1
        mid = f"m_{self.meeting_count:07d}"
        created = t = t + rng.randrange(10, 120) * 1_000_000
        events.append(Event(t, "meeting_create", device, uid, {"meeting_id": mid}))
        participants = [uid]
        status, updated, confirmed_slot = "polling", created, None
        slot_day = (
            seoul_day_start_us(datetime.fromtimestamp(t / 1e6, SEOUL).date()) + 86_400_000_000
        )
        slots = []
        for n in range(rng.randrange(2, 5)):
            start = slot_day + (n * 86_400 + rng.randrange(10, 20) * 3600) * 1_000_000
            slots.append(
                {
                    "start": firestore_timestamp(start),
                    "end": firestore_timestamp(start + 3_600_000_000),
                }
            )
        if rng.random() < b.P_INVITE_SEND:
            t += rng.randrange(10, 60) * 1_000_000
            events.append(Event(t, "invite_send", device, uid, {"meeting_id": mid}))
            participants += rng.sample(
                self.signed_up, min(len(self.signed_up), rng.randrange(1, 5))
            )
            if rng.random() < b.P_MEETING_CONFIRM:
                t += rng.randrange(60, 600) * 1_000_000
                events.append(Event(t, "meeting_confirm", device, uid, {"meeting_id": mid}))
                status, updated, confirmed_slot = "confirmed", t, rng.choice(slots)
                first_confirm = not state["confirmed"]
                state["confirmed"] = True
                if first_confirm:  # when, for the planted driver of revisits
                    state["confirmed_at"] = t
                p = b.P_PURCHASE_AFTER_CONFIRM * b.purchase_multiplier(assignments.variants_at(t))
                if first_confirm and kind == "user" and rng.random() < p:
                    currency, monthly, yearly, _ = state["currency"]
                    price = (rng.choice([monthly, yearly]), currency)
                    t = self._purchase(events, device, uid, t, state, price)
            elif rng.random() < 0.2:
                status, updated = "cancelled", t + rng.randrange(60, 3600) * 1_000_000
        meeting = {
            "mid": mid,
            "hostUid": uid,
            "title": f"{rng.choice(b.MEETING_CATEGORIES).title()} meetup #{self.meeting_count}",
            "category": rng.choice(b.MEETING_CATEGORIES),
            "status": status,
            "participantUids": participants,
            "candidateSlots": slots,
            "confirmedSlot": confirmed_slot,
            "createdAt": firestore_timestamp(created),
            "updatedAt": firestore_timestamp(updated),
        }
        if rng.random() < 0.5:
            meeting["location"] = {
                "_latitude": round(37.45 + rng.random() * 0.2, 6),
                "_longitude": round(126.85 + rng.random() * 0.3, 6),
            }
        if created < self.end_us:
            self.meetings.write(mid, meeting)
        return t

    def _purchase(self, events, device, uid, t, state, price: tuple[float, str]) -> int:
        """Apps log a store purchase as GA4's in_app_purchase, the web as purchase."""
        t += self.rng.randrange(30, 300) * 1_000_000
        if t >= self.end_us:
            return t
        name = "purchase" if device.platform == "web" else "in_app_purchase"
        params = {"currency": price[1]}
        if name == "in_app_purchase":
            params |= {"product_id": "calback_premium", "quantity": 1}
        events.append(Event(t, name, device, uid, params, price))
        if not state["purchased"]:
            state["purchased"], state["purchased_at"] = True, t
        return t

    # --- GA4 export rows ---------------------------------------------------------------------
    def _ga4_row(self, event: Event, source: tuple | None, variants: dict[str, str]) -> dict:
        """The export row of `event`; `variants`: the user's experiments by the event's time."""
        rng, device = self.rng, event.device
        params: dict[str, Any] = {}
        # A cookieless ping has no session, nor does an event the app store sends (app_remove).
        if device.pseudo_id and event.session[0]:
            params |= {"ga_session_id": event.session[0], "ga_session_number": event.session[1]}
        params |= event.params
        if event.tagged:  # the landing URL's tags
            params |= self._campaign_params(event)
        if event.price:
            params["value"] = float(event.price[0])
        in_usd = (
            round(event.price[0] * b.RATES_TO_KRW[event.price[1]] / b.RATES_TO_KRW["USD"], 6)
            if event.price
            else None
        )
        row: dict[str, Any] = {
            "event_date": datetime.fromtimestamp(event.ts_us / 1e6, SEOUL).strftime("%Y%m%d"),
            # BigQuery's JSON export writes INT64 as strings; half the rows do here too.
            "event_timestamp": self._int64(event.ts_us),
            "event_name": event.name,
            "event_params": [self._param(k, v) for k, v in params.items()],
            "event_value_in_usd": in_usd,
            "event_bundle_sequence_id": self._int64(event.bundle or rng.randrange(1, 10**6)),
            "user_id": event.user_id,
            "user_pseudo_id": device.pseudo_id,
            "user_properties": _user_properties(tuple(variants.items())) if event.user_id else [],
            "user_first_touch_timestamp": self._int64(device.first_touch_us)
            if device.pseudo_id
            else None,
            "device": {
                "category": "desktop" if device.platform == "web" else "mobile",
                "operating_system": {"ios": "iOS", "android": "Android", "web": "Web"}[
                    device.platform
                ],
                "language": "ko-kr",
                "web_info": {"browser": "Chrome"} if device.platform == "web" else None,
            },
            "geo": {
                "continent": "Asia",
                "country": "South Korea",
                "region": "Seoul",
                "city": "Seoul",
            },
            "app_info": {"id": APP_ID[device.platform], "version": "2.4.1"}
            if APP_ID[device.platform]
            else None,
            "traffic_source": {"name": source[2], "medium": source[1], "source": source[0]}
            if source
            else None,
            "stream_id": STREAM_IDS[device.platform],
            "platform": device.platform.upper(),
            "ecommerce": {
                "transaction_id": f"T{event.ts_us}",
                "purchase_revenue": float(event.price[0]),
                "purchase_revenue_in_usd": in_usd,
            }
            if event.price
            else None,
            "items": [],
        }
        row |= self._campaign_fields(event, row["event_date"])
        if device.platform == "web":
            consent = "Yes" if device.pseudo_id else "No"
            row["privacy_info"] = {"analytics_storage": consent, "ads_storage": "No"}
            # Web events say which page load, request and place in it they were sent in.
            row["batch_page_id"] = self._int64(event.session[0] * 1000)
            row["batch_ordering_id"] = self._int64(event.batch)
            row["batch_event_index"] = self._int64(event.batch_index)
        return row

    @staticmethod
    def _campaign_params(event: Event) -> dict:
        source, medium, name, _, tagging, _ = event.campaign
        if tagging == "utm":
            return {"source": source, "medium": medium, "campaign": name}
        if tagging == "gclid":
            return {"gclid": f"gclid_{event.session[0]}"}
        return {}

    def _campaign_fields(self, event: Event, event_date: str) -> dict:
        """Where GA4 puts a campaign: on the events that collected it (collected_traffic_source:
        the tags, a gclid, or a search engine's referrer) and, once the export has it, on every
        event of the session as GA4's last-click attribution (direct included)."""
        fields: dict[str, Any] = {}
        if event.tagged:
            source, medium, name, _, tagging, _ = event.campaign
            fields["collected_traffic_source"] = (
                {"gclid": f"gclid_{event.session[0]}"}
                if tagging == "gclid"
                else {"manual_source": source, "manual_medium": medium}
                | ({"manual_campaign_name": name} if tagging == "utm" else {})
            )
        if event.session[0] and event_date >= self.last_click_since:
            source, medium, name = (event.attributed or ("(direct)", "(none)", "(direct)"))[:3]
            last_click = {"source": source, "medium": medium, "campaign_name": name}
            fields["session_traffic_source_last_click"] = {
                "manual_campaign": last_click,
                "cross_channel_campaign": last_click,
            }
        return fields

    def _int64(self, value: int) -> int | str:
        return str(value) if self.rng.random() < 0.5 else value

    def _param(self, key: str, value: Any) -> dict:
        if isinstance(value, bool | str):
            return _string_param(key, str(value))
        if isinstance(value, int):
            return {"key": key, "value": {"int_value": self._int64(value)}}
        return {"key": key, "value": {"double_value": value}}


def _string_param(key: str, value: str) -> dict:
    return {"key": key, "value": {"string_value": value}}


@functools.cache
def _user_properties(variants: tuple[tuple[str, str], ...]) -> list[dict]:
    """A signed-in user's GA4 user properties: their variant per experiment. Few combinations
    exist, so each list is built once and shared by the rows (which are only serialized)."""
    return [
        _string_param(f"{experiment_id}_variant", variant) for experiment_id, variant in variants
    ]


def generate(config: GeneratorConfig) -> dict:
    """Write the demo source export under `config.out` and return the truth written beside it."""
    config.out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        sim = _Simulation(config, stack)
        sim.run()
    ad_spend = _AdSpendSheet(config, sim.signups).write()
    final = Counter()
    for counts in sim.ga4.counts["final"].values():
        final.update(counts)
    truth = {
        "config": {**asdict(config), "out": str(config.out), "start": config.start.isoformat()},
        "end": (config.start + timedelta(config.days - 1)).isoformat(),
        "quiet_days": sorted(
            (config.start + timedelta(offset)).isoformat() for offset in config.quiet_day_offsets()
        ),
        # Purchases that landed, in their currencies, and all of them in won at the demo's rates.
        "revenue_by_currency": {
            key.split(":")[1]: round(value, 2)
            for key, value in sorted(final.items())
            if key.startswith("revenue:")
        },
        "revenue_krw": round(
            sum(
                value * b.RATES_TO_KRW[key.split(":")[1]]
                for key, value in final.items()
                if key.startswith("revenue:")
            ),
            2,
        ),
        "users": config.users,
        "multi_device_users": sim.multi_device_users,
        "bots": sorted(sim.bots),
        "whales": sorted(sim.whales),
        "experiments": {
            e.experiment_id: {
                **asdict(e),
                "start": e.start.isoformat(),
                "users_by_variant": dict(sim.variant_users[e.experiment_id]),
                "buyers_by_variant": dict(sim.variant_buyers[e.experiment_id]),
                "note": "bots and whales excluded from these counts; buyers: users with a "
                "purchase from their assignment on",
            }
            for e in b.EXPERIMENTS
        },
        "experiment_interactions": _experiment_interactions(),
        "firestore": {
            "userCollection": dict(sim.users.counts),
            "meetingsCollection": dict(sim.meetings.counts),
            "experimentAssignments": dict(sim.assignments.counts),
        },
        "ga4": {
            version: {day: dict(counts) for day, counts in sorted(by_day.items())}
            for version, by_day in sim.ga4.counts.items()
        },
        "ad_spend": ad_spend,
        "acquisition": _acquisition_truth(sim.acquisition, ad_spend["spend_krw"]),
        "revisit": _RevisitTruth.summary(sim.revisits),
    }
    (config.out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True))
    return truth


def _experiment_interactions() -> list[dict]:
    """Every pair of experiments, and whether one's effect on conversion depends on the variant
    the user has in the other."""
    dependent = {
        frozenset((e.experiment_id, e.purchase_multiplier_when[0]))
        for e in b.EXPERIMENTS
        if e.purchase_multiplier_when
    }
    ids = sorted(e.experiment_id for e in b.EXPERIMENTS)
    return [
        {
            "experiments": list(pair),
            "metric": "conversion_rate",
            "interacts": frozenset(pair) in dependent,
        }
        for pair in itertools.combinations(ids, 2)
    ]


def _acquisition_truth(tallies: Counter, spend_krw: dict[str, float]) -> dict:
    """Per channel (bots left out): sign-ups by first touch, sessions, engaged sessions, new
    users, revenue and spend in won, CAC per new user and ROAS; and the sessions that ran past
    midnight."""
    channels = {key.split(":")[1] for key in tallies if ":" in key} | set(spend_krw)
    by_channel = {}
    for channel in sorted(channels):
        row = {
            measure: round(tallies[f"{measure}:{channel}"], 2)
            for measure in ("signups", "sessions", "engaged_sessions", "new_users", "revenue_krw")
        }
        spend = spend_krw.get(channel, 0)
        row["spend_krw"] = spend
        row["cac_per_new_user"] = (
            round(spend / row["new_users"], 4) if spend and row["new_users"] else None
        )
        row["roas"] = round(row["revenue_krw"] / spend, 6) if spend else None
        by_channel[channel] = row
    return {
        "lookback_days": b.ATTRIBUTION_LOOKBACK_DAYS,
        "midnight_sessions": tallies["midnight_sessions"],
        "by_channel": by_channel,
        "note": "bots left out; every session credited to its own campaign, else the device's "
        "last non-direct one within the look-back, else Direct",
    }


def declared_quiet_days(out: Path) -> str:
    """The outage the demo under `out` plants, as CALBACK_GA4_QUIET_DAYS declares known quiet
    days ("" when `out` holds no demo): a team declares a real outage the same way."""
    truth = Path(out) / "truth.json"
    return ",".join(json.loads(truth.read_text())["quiet_days"]) if truth.is_file() else ""
