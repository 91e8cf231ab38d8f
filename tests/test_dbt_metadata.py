"""dbt assets tell as much as raw ones: row counts and column schemas measured on the warehouse,
owners, the warehouse in use as kind, a link to the model's file; dbt's environment stays its own.
"""

import json
import os
import re
from datetime import timedelta
from functools import cache
from pathlib import Path

import dagster as dg
import pytest
from conftest import DAYS, START, build_platform
from test_settings import PROD

from calback_platform.assets.dbt import dbt_environment, dbt_project
from calback_platform.definitions import build_definitions
from calback_platform.settings import DBT_PROJECT_DIR, load_settings

UNIQUE_ID = "dagster_dbt/unique_id"


def dbt_specs(defs: dg.Definitions) -> list[dg.AssetSpec]:
    specs = [spec for spec in defs.resolve_all_asset_specs() if UNIQUE_ID in spec.metadata]
    assert len(specs) > 30  # every model, snapshot and seed
    return specs


@cache
def manifest_nodes() -> dict:
    return json.loads(dbt_project().manifest_path.read_text())["nodes"]


@pytest.fixture(scope="module")
def built(demo_dir, tmp_path_factory):
    """Every asset materialized over the demo's days in one run; the environment around it."""
    platform = build_platform(demo_dir, tmp_path_factory.mktemp("dbt_metadata"))
    import sklearn  # noqa: F401  (sets its OpenMP variables when first imported, run or not)

    environ = dict(os.environ)
    last = START + timedelta(days=DAYS - 1)
    result = platform.run(first=START.isoformat(), last=last.isoformat())
    assert result.success
    assert dict(os.environ) == environ  # dbt's variables were for dbt alone
    materialized = {
        event.asset_key: event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    specs = {spec.key: spec for spec in dbt_specs(platform.defs)}
    return platform, {key: m for key, m in materialized.items() if key in specs}, specs


def relation(spec: dg.AssetSpec) -> tuple[str, str, str]:
    node = manifest_nodes()[spec.metadata[UNIQUE_ID]]
    return node["schema"], node["alias"], node["config"]["materialized"]


def test_every_dbt_table_reports_its_real_row_count(built):
    platform, materialized, specs = built
    assert set(materialized) == set(specs)
    counted = 0
    for key, metadata in materialized.items():
        schema, table, materialization = relation(specs[key])
        if materialization == "view":  # counting a view would run its query: not counted
            assert "dagster/row_count" not in metadata, key
            continue
        ((rows,),) = platform.query(f"select count(*) from {schema}.{table}")
        assert metadata["dagster/row_count"].value == rows, key
        counted += 1
    assert counted >= 20
    fct_events = materialized[dg.AssetKey(["marts", "fct_events"])]["dagster/row_count"].value
    assert fct_events > 1000  # the demo's events: a count, not a placeholder


def test_every_dbt_materialization_lists_the_columns_of_its_table(built):
    platform, materialized, specs = built
    for key, metadata in materialized.items():
        schema, table, _ = relation(specs[key])
        columns = platform.query(
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position"
        )
        assert columns, key
        listed = [(c.name, c.type) for c in metadata["dagster/column_schema"].value.columns]
        assert [name for name, _ in listed] == [name for name, _ in columns], key
        # dbt names DuckDB's VARCHAR as a string column of its default size.
        types = [re.sub(r"^character varying\(\d+\)$", "varchar", t) for _, t in listed]
        assert [t.upper() for t in types] == [kind for _, kind in columns], key


def test_dbt_assets_have_owners_and_link_to_their_files(platform):
    for spec in dbt_specs(platform.defs):
        key = spec.key
        assert spec.owners == ["team:data"], key
        (reference,) = spec.metadata["dagster/code_references"].code_references
        assert isinstance(reference, dg.LocalFileCodeReference), key
        path = Path(reference.file_path)
        assert path.is_file(), key
        node = manifest_nodes()[spec.metadata[UNIQUE_ID]]
        assert path == DBT_PROJECT_DIR / node["original_file_path"], key


def test_kinds_name_the_warehouse_dbt_runs_on(platform):
    local = dbt_specs(platform.defs)
    assert {frozenset(spec.kinds) for spec in local} == {frozenset({"dbt", "duckdb"})}
    assert {spec.metadata["dagster/storage_kind"] for spec in local} == {"duckdb"}
    # Built offline from the same manifest (parsed for DuckDB), prod still says BigQuery.
    prod = dbt_specs(build_definitions(load_settings(PROD)))
    assert {frozenset(spec.kinds) for spec in prod} == {frozenset({"dbt", "bigquery"})}
    assert {spec.metadata["dagster/storage_kind"] for spec in prod} == {"bigquery"}


def test_dbt_environment_is_resolved_from_settings_alone(tmp_path):
    local = load_settings({"CALBACK_DUCKDB_PATH": str(tmp_path / "w.duckdb")})
    assert dbt_environment(local) == {
        "CALBACK_ENV": "local",
        "CALBACK_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "DBT_INDIRECT_SELECTION": "buildable",
    }
    prod = dbt_environment(load_settings(PROD))
    assert (prod["CALBACK_ENV"], prod["GOOGLE_CLOUD_PROJECT"]) == ("prod", "calback-prod")
    assert (prod["BIGQUERY_DATASET"], prod["BIGQUERY_LOCATION"]) == ("calback", "asia-northeast3")
