"""Freshness: every mart declares how fresh it must be; the GA4 export has an arrival hour.

Marts declare `freshness_hours` in their dbt meta (dbt_project.yml sets it for all of
`models/marts`; a model's own yml may override it). That project-wide value, FRESHNESS_HOURS
here, is also the Python-built marts' and `calback health`'s limit for the daily run.
Dagster's freshness sensor runs the checks when they may have turned stale (the
`dagster/fresh_until_timestamp` of their last result); a failed one (ERROR) reaches Slack like
any failed check.

Two rules keep them from crying wolf:
- An asset that was never materialized is not stale: there is nothing yet to be late (the
  check passes and says so, and looks again within the hour).
- Freshness is judged on the data's clock: `now` in production, but for a local export that
  ends (the demo), the day after its last day, so a finished demo stays green.
"""

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from calback_platform.partitions import seoul_datetime
from calback_platform.settings import dbt_project_yml

if TYPE_CHECKING:  # dagster_dbt takes seconds to import: `calback health` reads this module
    from dagster_dbt import DagsterDbtTranslator, DbtProject

# The marts' freshness, as dbt_project.yml declares it for all of them.
FRESHNESS_HOURS = int(dbt_project_yml()["models"]["calback"]["marts"]["+meta"]["freshness_hours"])
# Python-built marts, which have no dbt meta.
PYTHON_MART_FRESHNESS_HOURS = {dg.AssetKey(["marts", "ab_test_results"]): FRESHNESS_HOURS}
FRESH_UNTIL = "dagster/fresh_until_timestamp"  # when Dagster's sensor looks again
NOT_YET = timedelta(hours=1)  # how soon a never-materialized asset is looked at again
# A clock: what time it is for the data, as an aware datetime (None: the wall clock).
DataClock = Callable[[], datetime]


def mart_freshness_hours(
    project: "DbtProject", translator: "DagsterDbtTranslator"
) -> dict[dg.AssetKey, int]:
    manifest = json.loads(project.manifest_path.read_text())
    hours = dict(PYTHON_MART_FRESHNESS_HOURS)
    for unique_id, node in manifest["nodes"].items():
        declared = node.get("config", {}).get("meta", {}).get("freshness_hours")
        if node["resource_type"] in ("model", "seed") and declared:
            hours[translator.get_asset_spec(manifest, unique_id, project).key] = int(declared)
    return hours


def _result(key: dg.AssetKey, passed: bool, description: str, fresh_until: datetime, **meta):
    return dg.AssetCheckResult(
        asset_key=key,
        check_name="freshness",
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={FRESH_UNTIL: dg.MetadataValue.timestamp(fresh_until), **meta},
    )


def _not_yet(key: dg.AssetKey, wall: datetime) -> dg.AssetCheckResult:
    return _result(key, True, "Not materialized yet: nothing to be late.", wall + NOT_YET)


def build_freshness_checks(
    freshness_hours: dict[dg.AssetKey, int],
    ga4_events: dg.AssetKey,
    arrival_hour: int,
    data_end: datetime | None,
) -> list[dg.AssetChecksDefinition]:
    """`data_end`: where a local export ends (the day after its last day, Seoul); None in
    production, where data keeps coming."""

    def clock() -> datetime:
        now = seoul_datetime()
        return min(now, data_end) if data_end else now

    def look_again(now: datetime, stale_at: datetime) -> datetime:
        # On a stopped clock nothing turns stale: look again tomorrow.
        return now + timedelta(days=1) if data_end else stale_at

    by_hours: dict[int, list[dg.AssetKey]] = defaultdict(list)
    for key, hours in freshness_hours.items():
        by_hours[hours].append(key)
    checks = [
        _last_update_check(sorted(keys, key=lambda k: k.to_user_string()), hours, clock, look_again)
        for hours, keys in sorted(by_hours.items())
    ]
    checks.append(_arrival_check(ga4_events, arrival_hour, clock, look_again))
    return checks


def _last_update_check(keys, hours: int, clock: DataClock, look_again) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=f"freshness_{hours}h",
        specs=[
            dg.AssetCheckSpec(
                "freshness",
                asset=key,
                description=f"Materialized in the last {hours} hours (of the data's clock).",
            )
            for key in keys
        ],
        can_subset=True,
    )
    def last_update(context: dg.AssetCheckExecutionContext):
        now, wall = clock(), seoul_datetime()
        for check_key in context.selected_asset_check_keys:
            key = check_key.asset_key
            event = context.instance.get_latest_materialization_event(key)
            if event is None:
                yield _not_yet(key, wall)
                continue
            updated = datetime.fromtimestamp(event.timestamp, now.tzinfo)
            limit = updated + timedelta(hours=hours)
            passed = now <= limit or updated >= now
            yield _result(
                key,
                passed,
                f"Last materialized {updated:%Y-%m-%d %H:%M} KST; must be within {hours} h "
                f"of {now:%Y-%m-%d %H:%M} KST.",
                look_again(wall, limit) if passed else wall,
                last_updated=dg.MetadataValue.timestamp(updated),
            )

    return last_update


def _arrival_check(key: dg.AssetKey, arrival_hour: int, clock: DataClock, look_again):
    @dg.asset_check(
        asset=key,
        name="freshness",
        description=f"Yesterday's export (Asia/Seoul) has landed by {arrival_hour:02d}:00.",
    )
    def arrival(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        now, wall = clock(), seoul_datetime()
        if context.instance.get_latest_materialization_event(key) is None:
            return _not_yet(key, wall)
        deadline = now.replace(hour=arrival_hour, minute=0, second=0, microsecond=0)
        if now < deadline:
            deadline -= timedelta(days=1)
        expected = (deadline - timedelta(days=1)).date().isoformat()
        landed = context.instance.get_materialized_partitions(key)
        passed = expected in landed
        return _result(
            key,
            passed,
            f"The export of {expected} {'has' if passed else 'has not'} landed "
            f"(due {deadline:%Y-%m-%d %H:%M} KST).",
            look_again(wall, deadline + timedelta(days=1)) if passed else wall,
            expected_partition=expected,
        )

    return arrival


def build_freshness_sensor(checks: list[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    return dg.build_sensor_for_freshness_checks(
        freshness_checks=checks,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
