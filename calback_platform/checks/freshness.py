"""Freshness: every mart declares how fresh it must be; the GA4 export has an arrival hour.

Marts declare `freshness_hours` in their dbt meta (dbt_project.yml sets 26 for all of
`models/marts`; a model's own yml may override it). The checks are Dagster's freshness checks,
evaluated by their sensor; a failed one (ERROR) reaches Slack like any failed check.
"""

import json
from collections import defaultdict
from datetime import timedelta

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject

from calback_platform.partitions import TIMEZONE

# Python-built marts, which have no dbt meta.
PYTHON_MART_FRESHNESS_HOURS = {dg.AssetKey(["marts", "ab_test_results"]): 26}


def mart_freshness_hours(
    project: DbtProject, translator: DagsterDbtTranslator
) -> dict[dg.AssetKey, int]:
    manifest = json.loads(project.manifest_path.read_text())
    hours = dict(PYTHON_MART_FRESHNESS_HOURS)
    for unique_id, node in manifest["nodes"].items():
        declared = node.get("config", {}).get("meta", {}).get("freshness_hours")
        if node["resource_type"] in ("model", "seed") and declared:
            hours[translator.get_asset_spec(manifest, unique_id, project).key] = int(declared)
    return hours


def build_freshness_checks(
    freshness_hours: dict[dg.AssetKey, int], ga4_events: dg.AssetKey, arrival_hour: int
) -> list[dg.AssetChecksDefinition]:
    by_hours: dict[int, list[dg.AssetKey]] = defaultdict(list)
    for key, hours in freshness_hours.items():
        by_hours[hours].append(key)
    checks = [
        check
        for hours, keys in sorted(by_hours.items())
        for check in dg.build_last_update_freshness_checks(
            assets=sorted(keys, key=lambda key: key.to_user_string()),
            lower_bound_delta=timedelta(hours=hours),
            severity=dg.AssetCheckSeverity.ERROR,
        )
    ]
    # Yesterday's export must have landed by the arrival hour (Asia/Seoul).
    checks += dg.build_time_partition_freshness_checks(
        assets=[ga4_events],
        deadline_cron=f"0 {arrival_hour} * * *",
        timezone=TIMEZONE,
        severity=dg.AssetCheckSeverity.ERROR,
    )
    return checks


def build_freshness_sensor(checks: list[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    return dg.build_sensor_for_freshness_checks(
        freshness_checks=checks,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
