"""`calback health`: is the running platform alive? One OK/FAIL line per check, for a monitor.

Every check asks the Dagster webserver over HTTP (`/server_info` and its GraphQL API), so the
monitor needs neither DAGSTER_HOME nor database credentials: a cron job, a Kubernetes probe or an
uptime checker beside the webserver can run it. What a failure means:

- webserver: nothing answers at the URL (webserver down, wrong URL, or an auth proxy in the way);
  every other check is then reported as not checked.
- instance database: the webserver answers but cannot read runs from the instance's storage
  (PostgreSQL down or unreachable, wrong credentials, SQLite file unreadable).
- code location: the code server is down or its definitions failed to load, so nothing can run.
- daemons: a required daemon (scheduler, sensors, run queue, backfills ...) sent no recent
  heartbeat: dagster-daemon is down or stuck, so schedules, sensors and alerts stop.
- daily run: the latest run of the daily schedule failed or was canceled, or no run of it
  succeeded within `max_age_hours` (a stuck or silently skipped day); by default the marts'
  freshness_hours, since the marts are as fresh as the last daily run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

import requests

from calback_platform.checks.freshness import FRESHNESS_HOURS
from calback_platform.schedules import DAILY_JOB, DAILY_SCHEDULE

SCHEDULE_TAG = "dagster/schedule_name"
# CANCELING ends as CANCELED: no need to wait for it to say so.
BAD_END_STATUSES = ("FAILURE", "CANCELED", "CANCELING")
ERROR_CHARS = 200


class WebserverError(Exception):
    """The webserver did not give a usable answer; the message says what happened."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'OK' if self.ok else 'FAIL'} {self.name}: {self.detail}"


@dataclass(frozen=True)
class RunSummary:
    """What the daily-run check needs of a run, as the GraphQL API returns it (UTC epochs)."""

    run_id: str
    status: str
    created: float
    ended: float | None

    @classmethod
    def from_graphql(cls, run: dict) -> RunSummary:
        return cls(run["runId"], run["status"], run["creationTime"], run.get("endTime"))


def display_url(url: str) -> str:
    """The URL without user:password or query string, so no credential is ever printed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _first_line(text: str) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else "no message"
    return line if len(line) <= ERROR_CHARS else line[:ERROR_CHARS] + "…"


def _describe(error: requests.RequestException, timeout: float) -> str:
    """A short reason without the library's long repr (which can carry the full URL)."""
    if isinstance(error, requests.Timeout):
        return f"no answer within {timeout:g}s"
    if isinstance(error, requests.ConnectionError):
        reason = re.search(r"\[Errno -?\d+\] ([\w ]+)", str(error))
        return f"cannot connect ({reason[1].strip() if reason else type(error).__name__})"
    return type(error).__name__


class WebserverClient:
    def __init__(self, url: str, timeout: float):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _request(self, method: str, path: str, **kwargs) -> dict:
        try:
            # No redirects: an authenticating proxy answers with a login redirect, which must
            # read as "not the webserver", not as a healthy HTML page.
            response = self.session.request(
                method, self.url + path, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except requests.RequestException as error:
            raise WebserverError(_describe(error, self.timeout)) from error
        code = response.status_code
        if code in (301, 302, 303, 307, 308, 401, 403):
            raise WebserverError(
                f"HTTP {code} from {path}: an authenticating proxy? point --url at the "
                "webserver itself (e.g. http://webserver:3000)"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        # A resolver that raised (e.g. the database is down) comes back as HTTP 500 with the
        # error in the body; its first line says what broke (never the SQL or its parameters).
        if isinstance(body, dict) and body.get("errors"):
            message = _first_line(body["errors"][0].get("message", ""))
            raise WebserverError(f"HTTP {code} from {path}: {message}")
        if code != 200:
            raise WebserverError(f"HTTP {code} from {path}")
        if not isinstance(body, dict):
            raise WebserverError(f"{path} did not answer JSON: not a Dagster webserver?")
        return body

    def server_info(self) -> dict:
        return self._request("GET", "/server_info")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = {"query": query, "variables": variables or {}}
        return self._request("POST", "/graphql", json=body)["data"]


def _or_error(result: dict, expected: str) -> dict:
    """A `...OrError` union member, or WebserverError carrying the server-side error."""
    if result["__typename"] != expected:
        raise WebserverError(f"{result['__typename']}: {_first_line(result.get('message'))}")
    return result


def check_webserver(client: WebserverClient) -> CheckResult:
    try:
        info = client.server_info()
    except WebserverError as error:
        return CheckResult("webserver", False, f"{display_url(client.url)}: {error}")
    version = info.get("dagster_webserver_version", "unknown version")
    return CheckResult("webserver", True, f"{display_url(client.url)} answers (dagster {version})")


RUNS_PROBE = """
query HealthRunsProbe {
  runsOrError(limit: 1) {
    __typename
    ... on Runs { results { runId } }
    ... on PythonError { message }
    ... on InvalidPipelineRunsFilterError { message }
  }
}
"""


def check_database(client: WebserverClient) -> CheckResult:
    started = time.perf_counter()
    _or_error(client.graphql(RUNS_PROBE)["runsOrError"], "Runs")
    took = time.perf_counter() - started
    return CheckResult("instance database", True, f"run storage read in {took:.2f}s")


WORKSPACE = """
query HealthWorkspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""


def check_code_locations(client: WebserverClient) -> CheckResult:
    entries = _or_error(client.graphql(WORKSPACE)["workspaceOrError"], "Workspace")
    entries = entries["locationEntries"]
    if not entries:
        return CheckResult("code location", False, "the workspace has no code location")
    problems = []
    for entry in entries:
        loaded = entry["locationOrLoadError"] or {}
        if loaded.get("__typename") == "PythonError":
            problems.append(f"{entry['name']} failed to load: {_first_line(loaded['message'])}")
        elif entry["loadStatus"] != "LOADED":
            problems.append(f"{entry['name']} is {entry['loadStatus'].lower()}")
    if problems:
        return CheckResult("code location", False, "; ".join(problems))
    names = ", ".join(entry["name"] for entry in entries)
    return CheckResult("code location", True, f"loaded: {names}")


DAEMONS = """
query HealthDaemons {
  instance {
    daemonHealth {
      allDaemonStatuses { daemonType required healthy lastHeartbeatTime }
    }
  }
}
"""


def judge_daemons(statuses: list[dict], now: float, max_heartbeat_seconds: float) -> CheckResult:
    """Fail on a required daemon Dagster calls unhealthy, or whose heartbeat (sent every ~30 s)
    is older than `max_heartbeat_seconds`: Dagster only calls a daemon unhealthy after 30
    minutes of silence, too late for a monitor."""
    required = [status for status in statuses if status["required"]]
    if not required:
        return CheckResult("daemons", False, "the instance reports no required daemon")
    silent, ages = [], []
    for status in required:
        beat = status["lastHeartbeatTime"]
        age = None if beat is None else now - beat
        ages.append(age or 0.0)
        if not status["healthy"] or age is None or age > max_heartbeat_seconds:
            heard = "no heartbeat" if age is None else f"last heartbeat {age:.0f}s ago"
            silent.append(f"{status['daemonType']} ({heard})")
    if silent:
        return CheckResult(
            "daemons",
            False,
            f"unhealthy or silent for over {max_heartbeat_seconds:g}s: {', '.join(silent)}; "
            "is dagster-daemon running?",
        )
    return CheckResult(
        "daemons",
        True,
        f"{len(required)} required daemons healthy (oldest heartbeat {max(ages):.0f}s ago)",
    )


def check_daemons(client: WebserverClient, max_heartbeat_seconds: float) -> CheckResult:
    statuses = client.graphql(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    return judge_daemons(statuses, time.time(), max_heartbeat_seconds)


DAILY_RUNS = """
query HealthDailyRuns($latest: RunsFilter!, $succeeded: RunsFilter!) {
  latest: runsOrError(filter: $latest, limit: 1) { ...Newest }
  succeeded: runsOrError(filter: $succeeded, limit: 1) { ...Newest }
}
fragment Newest on RunsOrError {
  __typename
  ... on Runs { results { runId status creationTime endTime } }
  ... on PythonError { message }
  ... on InvalidPipelineRunsFilterError { message }
}
"""


def _when(epoch: float, now: float) -> str:
    stamp = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{(now - epoch) / 3600:.1f}h ago, {stamp}"


def judge_daily_run(
    latest: RunSummary | None,
    latest_success: RunSummary | None,
    now: float,
    max_age_hours: float,
) -> CheckResult:
    """The verdict on the daily schedule's runs: the newest one, and the newest that succeeded."""
    name, max_age = "daily run", max_age_hours * 3600
    if latest is None:
        # Locally the schedule is off by default; a monitor must not page for that.
        return CheckResult(name, True, f"no daily run yet ({DAILY_SCHEDULE} has never run)")
    if latest.status in BAD_END_STATUSES:
        when = _when(latest.ended or latest.created, now)
        return CheckResult(name, False, f"latest run {latest.run_id[:8]} {latest.status} ({when})")
    if latest_success is None:
        # Only unfinished runs so far: fine while young, a stuck run once older than the limit.
        young = now - latest.created <= max_age
        return CheckResult(
            name,
            young,
            f"no successful run yet; latest {latest.run_id[:8]} is {latest.status} "
            f"(created {_when(latest.created, now)})",
        )
    ended = latest_success.ended or latest_success.created
    detail = f"last success {latest_success.run_id[:8]} ended {_when(ended, now)}"
    if latest.run_id != latest_success.run_id:
        detail += f"; latest {latest.run_id[:8]} is {latest.status}"
    if now - ended > max_age:
        return CheckResult(name, False, f"{detail}: older than {max_age_hours:g}h")
    return CheckResult(name, True, detail)


def check_daily_run(client: WebserverClient, max_age_hours: float) -> CheckResult:
    latest = {"pipelineName": DAILY_JOB, "tags": [{"key": SCHEDULE_TAG, "value": DAILY_SCHEDULE}]}
    data = client.graphql(
        DAILY_RUNS, {"latest": latest, "succeeded": {**latest, "statuses": ["SUCCESS"]}}
    )
    newest = [_or_error(data[alias], "Runs")["results"] for alias in ("latest", "succeeded")]
    runs = [RunSummary.from_graphql(found[0]) if found else None for found in newest]
    return judge_daily_run(runs[0], runs[1], time.time(), max_age_hours)


def run_checks(
    url: str,
    timeout: float = 10.0,
    max_age_hours: float = FRESHNESS_HOURS,
    max_heartbeat_seconds: float = 600.0,
) -> list[CheckResult]:
    """Every check, in order; after the webserver fails, the others are reported unchecked."""
    client = WebserverClient(url, timeout)
    checks: list[tuple[str, Callable[[], CheckResult]]] = [
        ("webserver", lambda: check_webserver(client)),
        ("instance database", lambda: check_database(client)),
        ("code location", lambda: check_code_locations(client)),
        ("daemons", lambda: check_daemons(client, max_heartbeat_seconds)),
        ("daily run", lambda: check_daily_run(client, max_age_hours)),
    ]
    results: list[CheckResult] = []
    for name, check in checks:
        if results and not results[0].ok:
            results.append(CheckResult(name, False, "not checked: the webserver did not answer"))
            continue
        try:
            results.append(check())
        except WebserverError as error:
            results.append(CheckResult(name, False, str(error)))
    return results
