"""The one Definitions object of the Calback code location: it only assembles."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from calback_platform.assets.ab_tests import (
    build_ab_test_results_asset,
    build_experiment_registry_asset,
)
from calback_platform.assets.dbt import (
    DailyLineageTranslator,
    build_dbt_assets,
    dbt_executable,
    dbt_project,
)
from calback_platform.assets.metrics import (
    METRICS_ASSET,
    build_metrics_asset,
    build_metrics_job_and_sensor,
)
from calback_platform.assets.revisit import (
    build_revisit_model_asset,
    build_revisit_scores_asset,
)
from calback_platform.board.assets import BOARD_EXPORT, BOARD_SITE, build_board_assets
from calback_platform.checks.config_checks import CHECKS_FILE, build_config_checks
from calback_platform.checks.freshness import (
    build_freshness_checks,
    build_freshness_sensor,
    mart_freshness_hours,
)
from calback_platform.digest import build_digest_job, build_digest_schedule
from calback_platform.experiments.registry import load_registry
from calback_platform.ingest.firestore.asset import build_firestore_assets
from calback_platform.ingest.firestore.duckdb import DuckDBFirestoreChangelog
from calback_platform.ingest.firestore.source import LocalFirestoreExport
from calback_platform.ingest.ga4.asset import GA4_EVENTS, build_ga4_events_asset
from calback_platform.ingest.ga4.duckdb import DuckDBGa4Loader
from calback_platform.ingest.ga4.export import LocalGA4Export
from calback_platform.ingest.sheets.asset import build_ad_spend_asset
from calback_platform.ingest.sheets.source import AdSpendSheet, LocalAdSpendFile
from calback_platform.instance_backup import build_backup_job, build_backup_schedule
from calback_platform.instance_cleanup import build_cleanup_job, build_cleanup_schedule
from calback_platform.partitions import daily_partitions, seoul_datetime
from calback_platform.personal_data.asset import build_personal_data_assets
from calback_platform.personal_data.duckdb import DuckDBPersonalData
from calback_platform.schedules import DAILY_JOB, build_daily_schedule
from calback_platform.sensors.alerts import build_alert_sensors, build_missed_run_sensor
from calback_platform.sensors.experiments import build_experiment_notice_sensor
from calback_platform.sensors.slack import SlackNotifier
from calback_platform.settings import Settings, load_settings
from calback_platform.warehouse.duckdb import DuckDBWarehouse

# DuckDB allows one writer: every asset that writes the local warehouse takes a slot of this pool,
# whose limit is 1 in the instance config (dagster.yaml), so parallel steps and runs queue.
WAREHOUSE_POOL = "duckdb_warehouse"


def _secret(settings: Settings, name: str, value: str | None) -> str | None:
    """In prod a secret stays an `EnvVar`, resolved only when a run or sensor uses it, so the
    UI's resource pages show its variable's name, never its value."""
    if value is None or settings.is_local:
        return value
    return dg.EnvVar(name)


def build_ad_spend_sheet(settings: Settings) -> AdSpendSheet:
    """The Google sheet when its id is set, in either environment; else the local file."""
    if not settings.ad_spend_sheet_id:
        return LocalAdSpendFile(path=str(settings.source_dir / "sheets" / "ad_spend.csv"))
    from calback_platform.ingest.sheets.google_sheets import GoogleAdSpendSheet

    return GoogleAdSpendSheet(
        sheet_id=settings.ad_spend_sheet_id, api_base_url=settings.sheets_api_base_url
    )


def build_resources(settings: Settings) -> dict:
    """Locally the demo export and DuckDB; in prod Firestore, the GA4 export and BigQuery. Each
    source's loader for the warehouse in use is chosen here, and only here."""
    if settings.is_local:
        source_dir = str(settings.source_dir)
        warehouse = DuckDBWarehouse(path=str(settings.duckdb_path))
        firestore = LocalFirestoreExport(source_dir=source_dir, pii_key=settings.pii_key)
        ga4 = DuckDBGa4Loader(warehouse=warehouse, export=LocalGA4Export(source_dir=source_dir))
        firestore_changelog = DuckDBFirestoreChangelog(warehouse=warehouse)
        personal_data = DuckDBPersonalData(warehouse=warehouse)
    else:  # the Google clients take a second to import: only prod pays for them
        from dagster_gcp import BigQueryResource

        from calback_platform.ingest.firestore.bigquery import BigQueryFirestoreChangelog
        from calback_platform.ingest.firestore.firebase import FirebaseFirestore
        from calback_platform.ingest.ga4.bigquery import BigQueryGa4Loader
        from calback_platform.ingest.ga4.export import BigQueryGA4Export
        from calback_platform.personal_data.bigquery import BigQueryPersonalData
        from calback_platform.warehouse.bigquery import BigQueryWarehouse

        bigquery = BigQueryResource(
            project=settings.gcp_project, location=settings.bigquery_location
        )
        warehouse = BigQueryWarehouse(bigquery=bigquery)
        firestore = FirebaseFirestore(
            project_id=settings.firebase_project_id,
            emulator_host=settings.firestore_emulator_host,
            pii_key=_secret(settings, "CALBACK_PII_KEY", settings.pii_key),
        )
        ga4 = BigQueryGa4Loader(
            warehouse=warehouse,
            export=BigQueryGA4Export(
                project=settings.ga4_export_project, dataset=settings.ga4_export_dataset
            ),
        )
        firestore_changelog = BigQueryFirestoreChangelog(warehouse=warehouse)
        personal_data = BigQueryPersonalData(warehouse=warehouse)
    return {
        "warehouse": warehouse,
        "firestore": firestore,
        "firestore_changelog": firestore_changelog,
        "ga4": ga4,
        "personal_data": personal_data,
        "ad_spend_sheet": build_ad_spend_sheet(settings),
        "slack": SlackNotifier(
            webhook_url=_secret(settings, "SLACK_WEBHOOK_URL", settings.slack_webhook_url),
            bot_token=_secret(settings, "SLACK_BOT_TOKEN", settings.slack_bot_token),
            channel=settings.slack_channel,
            api_base_url=settings.slack_api_base_url,
        ),
        "dbt": DbtCliResource(
            project_dir=dbt_project(), target=settings.dbt_target, dbt_executable=dbt_executable()
        ),
    }


def build_definitions(settings: Settings, checks_file: Path = CHECKS_FILE) -> dg.Definitions:
    partitions_def = daily_partitions(settings)
    pool = WAREHOUSE_POOL if settings.is_local else None
    purge, no_plain_personal_data = build_personal_data_assets(settings.pii_retention_days, pool)
    resources = build_resources(settings)
    warehouse_kind = resources["warehouse"].kind
    registry = load_registry(settings.experiment_registry)
    assets = [
        build_ga4_events_asset(partitions_def, pool, warehouse_kind, settings.ga4_quiet_days),
        *build_firestore_assets(pool, warehouse_kind),
        build_ad_spend_asset(pool, warehouse_kind),
        *build_dbt_assets(settings, partitions_def, pool, warehouse_kind),
        build_experiment_registry_asset(registry, pool),
        build_ab_test_results_asset(registry, pool),
        build_revisit_model_asset(pool),
        build_revisit_scores_asset(partitions_def, pool),
        build_metrics_asset(settings, pool),
        purge,
    ]
    if settings.kpi_sheet_id:  # gspread takes a while to import: only when a sheet is written
        from calback_platform.assets.kpi_sheet import build_kpi_sheet_asset
        from calback_platform.ingest.sheets.google_sheets import GoogleSheet

        assets.append(build_kpi_sheet_asset(pool))
        resources["kpi_sheet"] = GoogleSheet(
            sheet_id=settings.kpi_sheet_id, api_base_url=settings.sheets_api_base_url
        )
    asset_keys = {key for asset in assets for key in asset.keys}
    freshness = build_freshness_checks(
        mart_freshness_hours(dbt_project(), DailyLineageTranslator()),
        GA4_EVENTS,
        settings.ga4_arrival_hour,
        # A local export ends: its freshness is judged on its own clock, not today's.
        seoul_datetime(settings.end_date, settings.ga4_arrival_hour)
        if settings.is_local and settings.end_date
        else None,
    )
    checks = [
        *build_config_checks(checks_file, asset_keys, pool),
        no_plain_personal_data,
        *freshness,
    ]
    check_keys = [key for definition in [*assets, *checks] for key in definition.check_keys]
    assets += build_board_assets(settings, pool, check_keys)
    everything = dg.define_asset_job(
        DAILY_JOB,
        # Freshness checks are the freshness sensor's to run, on the clock, not after each load;
        # the metric series and the board run once after the daily run, in a job of their own.
        selection=dg.AssetSelection.all()
        - dg.AssetSelection.checks(*freshness)
        - dg.AssetSelection.assets(METRICS_ASSET, BOARD_EXPORT, BOARD_SITE),
        description=(
            "Every asset: Firestore, GA4 and the ad spend sheet into the warehouse, then all "
            "dbt models."
        ),
    )
    schedule = build_daily_schedule(everything, partitions_def, running=not settings.is_local)
    cleanup = build_cleanup_job(keep_days=settings.keep_history_days)
    backup = build_backup_job(
        str(settings.instance_backup_dir), keep_days=settings.instance_backup_keep_days
    )
    digest = build_digest_job(settings.board_url, pool)
    metrics_job, metrics_sensor = build_metrics_job_and_sensor(
        everything, dg.AssetSelection.assets(METRICS_ASSET, BOARD_EXPORT, BOARD_SITE)
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[everything, metrics_job, cleanup, backup, digest],
        schedules=[
            schedule,
            build_cleanup_schedule(cleanup, running=not settings.is_local),
            build_backup_schedule(backup, running=not settings.is_local),
            build_digest_schedule(digest, running=not settings.is_local),
        ],
        sensors=[
            *build_alert_sensors(settings.webserver_url),
            build_freshness_sensor(freshness),
            metrics_sensor,
            build_experiment_notice_sensor(settings.board_url),
            build_missed_run_sensor(
                schedule.name,
                settings.daily_run_deadline_hour,
                settings.webserver_url,
                always_expected=not settings.is_local,
            ),
        ],
        resources=resources,
        # Locally one process runs a run's steps in order: DuckDB has one writer, and steps
        # skip the cost of a process each.
        executor=dg.in_process_executor if settings.is_local else None,
    )


defs = build_definitions(load_settings())
