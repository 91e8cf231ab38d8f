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


@pytest.mark.slow
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
    # The demo plants Firestore values that are no timestamp: a warning counts them.
    assert [name for name in shipped if not evaluations[name].passed] == ["firestore_values_parse"]
    planted = sum(c.get("unparsable_values", 0) for c in truth["firestore"].values())
    assert evaluations["firestore_values_parse"].metadata["observed"].value == planted > 0
    assert evaluations["firestore_values_parse"].severity == dg.AssetCheckSeverity.WARN
    assert evaluations["fct_events_keeps_raw_events"].metadata["observed"].value == 1.0


@pytest.mark.slow
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


@pytest.mark.slow
def test_volume_anomaly_flags_a_day_with_a_fraction_of_its_events(tmp_path):
    from conftest import small_config

    from calback_platform.demo.generator import generate

    source = tmp_path / "source"
    truth = generate(small_config(source, users=800, days=32, quiet_days=0))
    days = sorted(truth["ga4"]["final"])
    platform = build_platform(source, tmp_path)
    assert platform.run(first=days[0], last=days[30], selection="raw_ga4/events").success
    last = source / "ga4" / f"events_{days[31].replace('-', '')}.jsonl"
    lines = last.read_bytes().splitlines()
    # A twelfth of a day: low enough to flag, not so low that the load takes it for broken.
    last.write_bytes(b"\n".join(lines[: len(lines) // 12]) + b"\n")
    result = platform.run(partition_key=days[31], selection="raw_ga4/events")
    assert result.success
    volume = _checks(result)["ga4_daily_volume_normal"]
    assert not volume.passed
    assert volume.metadata["day"].value == days[31]
    assert volume.metadata["z_score"].value < -3


@pytest.mark.slow
def test_schema_drift_reports_added_missing_and_retyped_fields(platform, truth, instance):
    """Fields the schema does not know are reported as they come, go or change type, at any
    depth and however few lines hold them."""
    days = sorted(truth["ga4"]["final"])

    def load(day: str, field: bytes, into: bytes = b"}") -> dg.AssetCheckEvaluation:
        """Load `day` with `field` added to its first usable line, at the end of `into`."""
        path = platform.source_dir / "ga4" / f"events_{day.replace('-', '')}.jsonl"
        lines = path.read_bytes().splitlines()
        first = next(n for n, line in enumerate(lines) if line.endswith(b"}}"))
        head, _, tail = lines[first].rpartition(into)
        lines[first] = head + field + into + tail
        path.write_bytes(b"\n".join(lines) + b"\n")
        result = platform.run(partition_key=day, selection="raw_ga4/events", instance=instance)
        assert result.success  # a warning: the data still loads
        return _checks(result)["ga4_schema_unchanged"]

    load(days[0], b',"consent_mode":"granted"')
    drift = load(days[1], b',"consent_mode":{"ad_user_data":"granted"},"publisher_v2":{"x":1}')
    assert not drift.passed
    assert drift.severity == dg.AssetCheckSeverity.WARN
    assert {"field:publisher_v2", "field:publisher_v2.x"} <= set(drift.metadata["added"].value)
    assert "field:consent_mode.ad_user_data" in drift.metadata["added"].value
    assert "field:consent_mode: VARCHAR -> RECORD" in drift.metadata["type_changed"].value
    # A field new inside a known record, on one line of the day.
    drift = load(days[2], b',"form_factor":"foldable"', into=b'},"geo"')
    assert "field:device.form_factor" in drift.metadata["added"].value


@pytest.mark.slow
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
