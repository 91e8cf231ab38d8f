"""Checks declared in YAML: loading errors name the entry; blocking and warning behaviour."""

import shutil

import dagster as dg
import pytest
from conftest import build_platform

from calback_platform.checks.config_checks import CHECKS_FILE, load_check_specs

RAW = dg.AssetKey(["raw_ga4", "events"])


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  - {name: broken, asset: raw_ga4/events, kind: row_count, min: 1}", "needs sql"),
        (
            "  - {name: lost, asset: raw_ga4/nothing, kind: row_count, sql: x, min: 1}",
            "no asset named",
        ),
        ("  - {name: odd, asset: raw_ga4/events, kind: median, sql: x}", "kind"),
        ("  - {name: typo, asset: raw_ga4/events, kind: unique, table: t, colums: [a]}", "colums"),
    ],
)
def test_a_bad_entry_fails_loading_and_names_it(tmp_path, entry, message):
    path = tmp_path / "checks.yaml"
    fine = "  - {name: fine, asset: raw_ga4/events, kind: row_count, sql: x, min: 1}"
    path.write_text(f"checks:\n{fine}\n{entry}\n")
    with pytest.raises(dg.DagsterInvalidDefinitionError) as error:
        load_check_specs(path, {RAW})
    assert "checks.yaml entry 2 (" in str(error.value)
    assert message in str(error.value)


def test_the_shipped_checks_pass_on_good_data(platform, truth):
    days = sorted(truth["ga4"]["final"])[:3]
    result = platform.run(first=days[0], last=days[-1])
    assert result.success
    shipped = {
        spec.name
        for spec in load_check_specs(
            CHECKS_FILE, platform.defs.resolve_asset_graph().get_all_asset_keys()
        )
    }
    evaluations = _checks(result)
    assert shipped <= set(evaluations)
    assert [name for name in shipped if not evaluations[name].passed] == []
    assert evaluations["fct_events_keeps_raw_events"].metadata["observed"].value == 1.0


def test_a_failing_blocking_check_stops_downstream_and_a_warning_does_not(demo_dir, tmp_path):
    checks = tmp_path / "checks.yaml"
    checks.write_text(
        """checks:
  - name: impossible_volume
    asset: raw_ga4/events
    kind: row_count
    sql: select count(*) from raw_ga4.events
    max: 1
    blocking: true
  - name: strict_quarantine
    asset: raw_ga4/events
    kind: row_count
    sql: select count(*) from raw_ga4.events_quarantine
    max: 0
    severity: warn
"""
    )
    source = tmp_path / "source"
    shutil.copytree(demo_dir, source)
    from calback_platform.definitions import build_definitions

    platform = build_platform(source, tmp_path)
    platform.defs = build_definitions(platform.settings, checks_file=checks)
    result = platform.run(partition_key="2024-03-02")
    evaluations = _checks(result)
    assert not evaluations["impossible_volume"].passed
    assert evaluations["impossible_volume"].severity == dg.AssetCheckSeverity.ERROR
    assert evaluations["impossible_volume"].metadata["expected"].value == "[-inf, 1]"
    assert not evaluations["strict_quarantine"].passed
    assert evaluations["strict_quarantine"].severity == dg.AssetCheckSeverity.WARN
    built = {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    assert "raw_ga4/events" in built
    assert "marts/fct_events" not in built  # held back by the blocking check
    assert "raw_firestore/users_raw_changelog" in built  # not downstream of it


def test_volume_anomaly_flags_a_day_with_a_fraction_of_its_events(tmp_path):
    from conftest import small_config

    from calback_platform.demo.generator import generate

    source = tmp_path / "source"
    truth = generate(small_config(source, users=800, days=32))
    days = sorted(truth["ga4"]["final"])
    platform = build_platform(source, tmp_path)
    assert platform.run(first=days[0], last=days[30], selection="raw_ga4/events").success
    last = source / "ga4" / f"events_{days[31].replace('-', '')}.jsonl"
    lines = last.read_text().splitlines()
    last.write_text("\n".join(lines[: len(lines) // 20]) + "\n")
    result = platform.run(partition_key=days[31], selection="raw_ga4/events")
    volume = _checks(result)["ga4_daily_volume_normal"]
    assert not volume.passed
    assert volume.metadata["day"].value == days[31]
    assert volume.metadata["z_score"].value < -3


def test_schema_drift_reports_added_missing_and_retyped_fields(platform, truth, instance):
    days = sorted(truth["ga4"]["final"])
    assert platform.run(
        partition_key=days[0], selection="raw_ga4/events", instance=instance
    ).success
    path = platform.source_dir / "ga4" / f"events_{days[1].replace('-', '')}.jsonl"
    lines = []
    for line in path.read_text().splitlines():
        if line.endswith("}"):
            line = line[:-1] + ',"consent_mode":"granted"}'  # a new top-level field
            line = line.replace('"stream_id":"3001001"', '"stream_id":3001001')  # retyped
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    result = platform.run(partition_key=days[1], selection="raw_ga4/events", instance=instance)
    assert result.success  # a warning: the data still loads
    drift = _checks(result)["ga4_schema_unchanged"]
    assert not drift.passed
    assert drift.severity == dg.AssetCheckSeverity.WARN
    assert "field:consent_mode" in drift.metadata["added"].value
    assert "field:stream_id: VARCHAR -> UBIGINT|VARCHAR" in drift.metadata["type_changed"].value


def test_firestore_schema_drift_sees_a_new_document_field(platform, instance):
    selection = "raw_firestore/users_raw_changelog"
    first = platform.run(selection=selection, instance=instance)
    assert _checks(first)["users_schema_unchanged"].passed  # nothing to compare with yet
    path = platform.source_dir / "firestore" / "userCollection.jsonl"
    path.write_text(
        path.read_text().replace('"marketingConsent":', '"locale":"ko","marketingConsent":')
    )
    drift = _checks(platform.run(selection=selection, instance=instance))["users_schema_unchanged"]
    assert not drift.passed
    assert drift.metadata["added"].value == ["locale"]
    assert drift.metadata["missing"].value == []
