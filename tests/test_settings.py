"""Settings: the only reader of the environment; clear errors naming the variable."""

from datetime import date

import dagster as dg
import pytest

from calback_platform.settings import SettingsError, load_settings


def test_local_partitions_cover_exactly_the_export_days(demo_dir):
    settings = load_settings({"CALBACK_SOURCE_DIR": str(demo_dir)})
    assert settings.start_date == date(2024, 3, 1)
    assert settings.end_date == date(2024, 3, 9)  # exclusive: 8 days of export


def test_explicit_dates_win_and_bad_values_name_the_variable(demo_dir):
    settings = load_settings(
        {"CALBACK_SOURCE_DIR": str(demo_dir), "CALBACK_START_DATE": "2024-03-03"}
    )
    assert settings.start_date == date(2024, 3, 3)
    with pytest.raises(SettingsError, match="CALBACK_START_DATE"):
        load_settings({"CALBACK_START_DATE": "March"})
    with pytest.raises(SettingsError, match="CALBACK_ENV"):
        load_settings({"CALBACK_ENV": "staging"})


PROD = {
    "CALBACK_ENV": "prod",
    "CALBACK_START_DATE": "2024-01-01",
    "GOOGLE_CLOUD_PROJECT": "calback-prod",
    "BIGQUERY_DATASET": "calback",
    "BIGQUERY_LOCATION": "asia-northeast3",
    "GA4_EXPORT_DATASET": "analytics_327848427",
    "FIREBASE_PROJECT_ID": "calback-app",
    "AD_SPEND_SHEET_ID": "1AdSpendSheetId_0123456789abcdefghij",
    "SLACK_BOT_TOKEN": "xoxb-1-secret",
    "SLACK_CHANNEL": "#data-alerts",
    "CALBACK_PII_KEY": "a-pii-key-secret-enough",
}


def test_google_sheets_variables():
    settings = load_settings({})
    assert (settings.ad_spend_sheet_id, settings.kpi_sheet_id, settings.sheets_api_base_url) == (
        None,
        None,
        None,
    )
    settings = load_settings(
        {
            "AD_SPEND_SHEET_ID": "1AdSpend",
            "KPI_SHEET_ID": "1Kpi",
            "SHEETS_API_BASE_URL": "http://127.0.0.1:8089",
        }
    )
    assert (settings.ad_spend_sheet_id, settings.kpi_sheet_id, settings.sheets_api_base_url) == (
        "1AdSpend",
        "1Kpi",
        "http://127.0.0.1:8089",
    )


def test_prod_names_every_missing_or_malformed_variable_at_once():
    environ = {**PROD, "GOOGLE_CLOUD_PROJECT": "Calback Prod", "GA4_EXPORT_DATASET": "events"}
    del environ["FIREBASE_PROJECT_ID"]
    with pytest.raises(SettingsError) as error:
        load_settings(environ)
    message = str(error.value)
    assert "GOOGLE_CLOUD_PROJECT='Calback Prod' is not a GCP project id" in message
    assert "GA4_EXPORT_DATASET='events' is not the GA4 export dataset" in message
    assert "FIREBASE_PROJECT_ID is not set" in message
    assert "BIGQUERY_DATASET" not in message
    with pytest.raises(SettingsError, match="CALBACK_PII_KEY must be set in prod") as short:
        load_settings({**PROD, "CALBACK_PII_KEY": "short-secret"})
    assert "short-secret" not in str(short.value)  # a secret is never echoed
    with pytest.raises(SettingsError, match="SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN"):
        load_settings({k: v for k, v in PROD.items() if k != "SLACK_CHANNEL"})
    with pytest.raises(SettingsError, match=r"GOOGLE_APPLICATION_CREDENTIALS='/nowhere\.json'"):
        load_settings({**PROD, "GOOGLE_APPLICATION_CREDENTIALS": "/nowhere.json"})


def test_prod_selects_bigquery_firebase_and_the_prod_dbt_target():
    from calback_platform.definitions import build_definitions
    from calback_platform.ingest.firestore.bigquery import BigQueryFirestoreChangelog
    from calback_platform.ingest.firestore.firebase import FirebaseFirestore
    from calback_platform.ingest.ga4.bigquery import BigQueryGa4Loader
    from calback_platform.personal_data.bigquery import BigQueryPersonalData
    from calback_platform.warehouse.bigquery import BigQueryWarehouse

    settings = load_settings({**PROD, "GA4_EXPORT_DATASET": "calback-ga.analytics_1"})
    assert "xoxb" not in repr(settings) and "pii-key" not in repr(settings)
    resources = build_definitions(settings).resources
    assert isinstance(resources["warehouse"], BigQueryWarehouse)
    assert resources["warehouse"].bigquery.project == "calback-prod"
    assert resources["warehouse"].bigquery.location == "asia-northeast3"
    assert isinstance(resources["firestore"], FirebaseFirestore)
    assert resources["firestore"].project_id == "calback-app"
    assert resources["firestore"].pii_key == dg.EnvVar("CALBACK_PII_KEY")
    assert isinstance(resources["ga4"], BigQueryGa4Loader)
    assert (resources["ga4"].export.project, resources["ga4"].export.dataset) == (
        "calback-ga",
        "analytics_1",
    )
    # Every source writes through the one BigQuery warehouse.
    assert isinstance(resources["firestore_changelog"], BigQueryFirestoreChangelog)
    assert isinstance(resources["personal_data"], BigQueryPersonalData)
    for name in ("ga4", "firestore_changelog", "personal_data"):
        assert resources[name].warehouse == resources["warehouse"]
    assert resources["dbt"].target == "prod"
    # The Slack token is referenced by name, so the UI's resource page cannot show it.
    assert resources["slack"].bot_token == dg.EnvVar("SLACK_BOT_TOKEN")
    assert "xoxb" not in repr(resources["slack"])
