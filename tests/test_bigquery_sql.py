"""The dbt project compiles for BigQuery offline, and every model parses as BigQuery SQL."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import sqlglot

from calback_platform.assets.dbt import dbt_executable
from calback_platform.settings import DBT_PROJECT_DIR

WINDOW = '{"min_date": "2024-03-02", "max_date": "2024-03-05"}'
# Contracts name BigQuery's types; DuckDB reads each as its own (float64 through an alias).
CONTRACT_TYPES = {"int64", "float64", "string", "boolean", "date", "timestamp", "datetime"}


@pytest.fixture(scope="module")
def compiled_target(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("bigquery")
    subprocess.run(
        [
            dbt_executable(),
            "compile",
            "--profiles-dir",
            ".",
            "--target",
            "bigquery_offline",
            "--no-populate-cache",
            "--no-introspect",
            "--target-path",
            str(target),
            "--vars",
            WINDOW,
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


@pytest.fixture(scope="module")
def compiled(compiled_target: Path) -> dict[str, str]:
    models = compiled_target / "compiled" / "calback" / "models"
    return {path.stem: path.read_text() for path in models.rglob("*.sql")}


@pytest.fixture(scope="module")
def compiled_manifest(compiled_target: Path) -> dict:
    return json.loads((compiled_target / "manifest.json").read_text())


def test_every_model_parses_as_bigquery(compiled):
    expected = {path.stem for path in (DBT_PROJECT_DIR / "models").rglob("*.sql")}
    assert expected <= set(compiled)
    for name in expected:
        assert sqlglot.parse_one(compiled[name], read="bigquery"), name
    # The BigQuery side of the dispatch macros was used, not DuckDB's.
    assert "json_value(data, '$.platform')" in compiled["stg_firestore__users"]
    assert "date_trunc(" in compiled["dim_users"] and "isoweek" in compiled["dim_users"]
    assert "timestamp_micros(" in compiled["stg_ga4__events"]
    assert "unnest(event_params)" in compiled["stg_ga4__events"]


def _where_conditions(sql: str) -> set[str]:
    tree = sqlglot.parse_one(sql, read="bigquery")
    return {where.sql(dialect="bigquery") for where in tree.find_all(sqlglot.exp.Where)}


def test_incremental_models_filter_on_their_partition_window(compiled):
    window = "event_date >= CAST('2024-03-02' AS DATE) AND event_date < CAST('2024-03-05' AS DATE)"
    assert any(window in condition for condition in _where_conditions(compiled["fct_events"]))
    # Sessions re-compute the day before the window too (a session past midnight into it),
    # reading events from two days before (where such a session started) to one day after.
    sessions = _where_conditions(compiled["fct_sessions"])
    events = (
        "event_date >= DATE_ADD(CAST('2024-03-02' AS DATE), INTERVAL '-2' DAY) "
        "AND event_date < DATE_ADD(CAST('2024-03-05' AS DATE), INTERVAL '1' DAY)"
    )
    started = (
        "date(sessions.session_started_at, 'Asia/Seoul') >= "
        "DATE_ADD(CAST('2024-03-02' AS DATE), INTERVAL '-1' DAY) "
        "AND date(sessions.session_started_at, 'Asia/Seoul') < CAST('2024-03-05' AS DATE)"
    )
    assert any(events in condition for condition in sessions), sessions
    assert any(started in condition for condition in sessions), sessions


def test_incremental_models_overwrite_exactly_the_window_days(compiled_manifest):
    nodes = {node["name"]: node for node in compiled_manifest["nodes"].values()}
    window = ["date('2024-03-02')", "date('2024-03-03')", "date('2024-03-04')"]
    # fct_sessions replaces the day before the window too (docs/architecture.md §5).
    for model, days in (("fct_events", window), ("fct_sessions", ["date('2024-03-01')", *window])):
        config = nodes[model]["config"]
        assert config["incremental_strategy"] == "insert_overwrite"
        assert config["partition_by"]["data_type"] == "date"
        # Static partitions: BigQuery replaces these days, found without scanning the new rows.
        assert config["partitions"] == days


def test_every_mart_has_an_enforced_contract_of_typed_described_columns(compiled_manifest):
    marts = {
        node["name"]: node
        for node in compiled_manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    }
    assert set(marts) == {path.stem for path in (DBT_PROJECT_DIR / "models/marts").rglob("*.sql")}
    for name, node in marts.items():
        assert node["config"]["contract"]["enforced"] and node["columns"], name
        for column in node["columns"].values():
            assert column["data_type"] in CONTRACT_TYPES, (name, column["name"])
            assert column["description"].strip(), (name, column["name"])
    # The float64 alias is created on DuckDB only: on BigQuery the hook is empty.
    hooks = [n for n in compiled_manifest["nodes"].values() if n["resource_type"] == "operation"]
    assert [hook["compiled_code"].strip() for hook in hooks] == [""]
