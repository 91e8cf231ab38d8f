"""The only place that reads environment variables: typed, validated settings.

Also the reader of dbt_project.yml for the constants dbt and Python share (the platform's
timezone, how fresh the marts must be): they are written there once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEMO_START_DATE = date(2024, 3, 1)
_GA4_DAY_FILE = re.compile(r"events_(?:intraday_)?(\d{8})\.jsonl$")


@cache
def dbt_project_yml() -> dict[str, Any]:
    """dbt_project.yml as parsed YAML (unrendered: what it says, not what dbt makes of it)."""
    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus `extra`, for a child process (pg_dump, a probe) that
    needs PATH, locale and the like besides what it is handed."""
    return {**os.environ, **extra}


class SettingsError(ValueError):
    """A configuration variable is missing or malformed; the message names it."""


# What prod needs, each with the shape a valid value has.
_GCP_PROJECT = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
PROD_VARIABLES = {
    "GOOGLE_CLOUD_PROJECT": (_GCP_PROJECT, "a GCP project id"),
    "BIGQUERY_DATASET": (r"\w{1,1024}", "a BigQuery dataset name (letters, digits, _)"),
    "BIGQUERY_LOCATION": (
        r"[A-Za-z]+(-[a-z]+\d*)?",
        "a BigQuery location such as US or asia-northeast3",
    ),
    "GA4_EXPORT_DATASET": (
        rf"({_GCP_PROJECT}\.)?analytics_\d+",
        "the GA4 export dataset, analytics_<property id> (optionally <project>.analytics_<id>)",
    ),
    "FIREBASE_PROJECT_ID": (_GCP_PROJECT, "a Firebase (GCP) project id"),
    "AD_SPEND_SHEET_ID": (
        r"[A-Za-z0-9_-]{20,}",
        "the ad spend Google sheet's id (the part of its URL between /d/ and /edit)",
    ),
}


# Locally the demo's personal fields are pseudonymised with this key; prod sets its own secret.
LOCAL_PII_KEY = "calback-local-demo-key"
MIN_PII_KEY_LENGTH = 16


@dataclass(frozen=True)
class Settings:
    """What load_settings makes of the environment; the defaults are there, beside each
    variable's name."""

    env: str
    source_dir: Path
    duckdb_path: Path
    start_date: date
    # Exclusive end of the daily partitions; None means "up to today".
    end_date: date | None
    webserver_url: str
    # Where the board is served: the digest and the asset metadata link to it.
    board_url: str
    # The board's data copy and its built sites (the served one is <board_dir>/site).
    board_dir: Path
    # The experiment registry (experiments.yml): each A/B test's design.
    experiment_registry: Path
    # Secrets stay out of the settings' repr, so a logged Settings shows no token.
    slack_webhook_url: str | None = field(repr=False)
    slack_bot_token: str | None = field(repr=False)
    slack_channel: str | None
    slack_api_base_url: str | None
    gcp_project: str | None
    bigquery_dataset: str | None
    bigquery_location: str | None
    ga4_export_project: str | None
    ga4_export_dataset: str | None
    firebase_project_id: str | None
    # A Firestore emulator to read instead of Firestore (tests, a staging setup).
    firestore_emulator_host: str | None
    # The marketer's ad spend Google sheet (required in prod); locally, without it, the ad
    # spend is read from <source_dir>/sheets/ad_spend.csv.
    ad_spend_sheet_id: str | None
    # The Google sheet the KPIs are written back to.
    kpi_sheet_id: str | None
    # Another host for the Google Sheets API (tests).
    sheets_api_base_url: str | None
    # Asia/Seoul hours: yesterday's GA4 export must have landed by the first, the daily run
    # must have succeeded by the second.
    ga4_arrival_hour: int
    daily_run_deadline_hour: int
    pii_key: str = field(repr=False)
    # A deleted user's personal fields are purged from the raw and snapshot tables after this.
    pii_retention_days: int
    # Where back_up_instance writes dumps of the instance database, and how long it keeps them.
    instance_backup_dir: Path
    instance_backup_keep_days: int
    # Days known to be quiet (an outage): the GA4 load does not take their low volume for a
    # broken export.
    ga4_quiet_days: frozenset[date]
    # Dagster run and event-log history older than this is deleted by the clean-up job.
    keep_history_days: int

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    @property
    def dbt_target(self) -> str:
        return self.env


def _date(environ: Mapping[str, str], name: str) -> date | None:
    value = environ.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise SettingsError(f"{name}={value!r} is not a date (YYYY-MM-DD)") from error


def _dates(environ: Mapping[str, str], name: str) -> frozenset[date]:
    """A comma-separated list of dates."""
    values = [value.strip() for value in (environ.get(name) or "").split(",") if value.strip()]
    return frozenset(_date({name: value}, name) for value in values)


def local_export_days(source_dir: Path) -> tuple[date, date] | None:
    """First and last day the local GA4 export has a file for, or None when it has none."""
    ga4_dir = source_dir / "ga4"
    days = sorted(
        date.fromisoformat(f"{m[1][:4]}-{m[1][4:6]}-{m[1][6:]}")
        for path in (ga4_dir.iterdir() if ga4_dir.is_dir() else ())
        if (m := _GA4_DAY_FILE.search(path.name))
    )
    return (days[0], days[-1]) if days else None


def _hour(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if not value:
        return default
    if not value.isdigit() or int(value) > 23:
        raise SettingsError(f"{name}={value!r} is not an hour of the day (0-23)")
    return int(value)


def _check_prod(environ: Mapping[str, str]) -> None:
    """Every prod variable at once, so one start-up names all that is missing or malformed."""
    problems = []
    for name, (pattern, meaning) in PROD_VARIABLES.items():
        value = environ.get(name)
        if not value:
            problems.append(f"{name} is not set: expected {meaning}")
        elif not re.fullmatch(pattern, value):
            problems.append(f"{name}={value!r} is not {meaning}")
    credentials = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if credentials and not Path(credentials).is_file():
        problems.append(f"GOOGLE_APPLICATION_CREDENTIALS={credentials!r} is not a file")
    if len(environ.get("CALBACK_PII_KEY") or "") < MIN_PII_KEY_LENGTH:  # never echo a secret
        problems.append(
            f"CALBACK_PII_KEY must be set in prod to a secret of at least {MIN_PII_KEY_LENGTH} "
            "characters: the key of the personal fields' pseudonyms"
        )
    bot = environ.get("SLACK_BOT_TOKEN") and environ.get("SLACK_CHANNEL")
    if not environ.get("SLACK_WEBHOOK_URL") and not bot:
        problems.append(
            "SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN + SLACK_CHANNEL must be set in prod: "
            "failures are reported to Slack"
        )
    if problems:
        raise SettingsError("CALBACK_ENV=prod: " + "; ".join(problems))


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SettingsError(f"{name}={value!r} is not a positive whole number")
    return int(value)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    env = environ.get("CALBACK_ENV", "local")
    if env not in ("local", "prod"):
        raise SettingsError(f"CALBACK_ENV={env!r}: expected 'local' or 'prod'")

    def path(name: str, default: str) -> Path:
        value = Path(environ.get(name) or default)
        return value if value.is_absolute() else (PROJECT_ROOT / value)

    source_dir = path("CALBACK_SOURCE_DIR", "data/source")
    start_date, end_date = _date(environ, "CALBACK_START_DATE"), _date(environ, "CALBACK_END_DATE")
    if env == "local":
        # Locally the partitions cover exactly the days the export has, so every partition the
        # UI offers can succeed.
        covered = local_export_days(source_dir)
        start_date = start_date or (covered[0] if covered else DEMO_START_DATE)
        end_date = end_date or (covered[1] + timedelta(days=1) if covered else None)
    else:
        _check_prod(environ)
        if start_date is None:
            raise SettingsError("CALBACK_START_DATE must be set in prod (first daily partition)")
    export_project, _, export_dataset = (environ.get("GA4_EXPORT_DATASET") or "").rpartition(".")
    return Settings(
        env=env,
        source_dir=source_dir,
        duckdb_path=path("CALBACK_DUCKDB_PATH", "data/warehouse.duckdb"),
        start_date=start_date,
        end_date=end_date,
        webserver_url=environ.get("DAGSTER_WEBSERVER_URL", "http://localhost:3000").rstrip("/"),
        board_url=environ.get("CALBACK_BOARD_URL", "http://localhost:3001").rstrip("/"),
        board_dir=path("CALBACK_BOARD_DIR", "data/board"),
        experiment_registry=path("CALBACK_EXPERIMENT_REGISTRY", "experiments.yml"),
        slack_webhook_url=environ.get("SLACK_WEBHOOK_URL") or None,
        slack_bot_token=environ.get("SLACK_BOT_TOKEN") or None,
        slack_channel=environ.get("SLACK_CHANNEL") or None,
        slack_api_base_url=environ.get("SLACK_API_BASE_URL") or None,
        gcp_project=environ.get("GOOGLE_CLOUD_PROJECT") or None,
        bigquery_dataset=environ.get("BIGQUERY_DATASET") or None,
        bigquery_location=environ.get("BIGQUERY_LOCATION") or None,
        ga4_export_project=export_project or environ.get("GOOGLE_CLOUD_PROJECT") or None,
        ga4_export_dataset=export_dataset or None,
        firebase_project_id=environ.get("FIREBASE_PROJECT_ID") or None,
        firestore_emulator_host=environ.get("FIRESTORE_EMULATOR_HOST") or None,
        ad_spend_sheet_id=environ.get("AD_SPEND_SHEET_ID") or None,
        kpi_sheet_id=environ.get("KPI_SHEET_ID") or None,
        sheets_api_base_url=environ.get("SHEETS_API_BASE_URL") or None,
        ga4_arrival_hour=_hour(environ, "CALBACK_GA4_ARRIVAL_HOUR", 9),
        daily_run_deadline_hour=_hour(environ, "CALBACK_DAILY_RUN_DEADLINE_HOUR", 6),
        keep_history_days=_positive(environ, "CALBACK_KEEP_HISTORY_DAYS", 90),
        ga4_quiet_days=_dates(environ, "CALBACK_GA4_QUIET_DAYS"),
        pii_key=environ.get("CALBACK_PII_KEY") or LOCAL_PII_KEY,
        pii_retention_days=_positive(environ, "CALBACK_PII_RETENTION_DAYS", 30),
        instance_backup_dir=path("CALBACK_INSTANCE_BACKUP_DIR", "data/instance_backups"),
        instance_backup_keep_days=_positive(environ, "CALBACK_INSTANCE_BACKUP_KEEP_DAYS", 14),
    )
