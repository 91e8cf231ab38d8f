"""The experiment registry: the project's own file is valid and names real metrics; an invalid
entry stops loading with a message naming the experiment and what is wrong."""

import json
from pathlib import Path

import pytest
import yaml

from calback_platform.assets.dbt import dbt_project
from calback_platform.definitions import build_definitions
from calback_platform.experiments.metrics import EXPERIMENT_METRICS
from calback_platform.experiments.registry import ExperimentRegistryError, load_registry
from calback_platform.settings import PROJECT_ROOT, load_settings

VALID = {
    "id": "exp_new_onboarding",
    "hypothesis": "A shorter onboarding gets more people to their first meeting.",
    "owner": "Growth team",
    "unit": "user",
    "variants": {"control": 0.5, "test": 0.5},
    "start": "2024-05-01",
    "planned_end": "2024-05-31",
    "primary_metric": "conversion_rate",
    "guardrail_metrics": ["retention_d7"],
    "minimum_detectable_effect": 0.2,
    "baseline": 0.08,
}


def _write(tmp_path: Path, *entries: dict) -> Path:
    path = tmp_path / "experiments.yml"
    path.write_text(yaml.safe_dump({"experiments": list(entries)}))
    return path


def test_the_project_registry_loads_and_its_semantic_metrics_exist():
    registry = load_registry(PROJECT_ROOT / "experiments.yml")
    assert {e.id for e in registry.experiments} >= {"exp_paywall_v2", "exp_aa_check"}
    semantic = {
        node["name"]
        for node in json.loads(dbt_project().manifest_path.read_text())["metrics"].values()
    }
    claimed = {m.name for m in EXPERIMENT_METRICS.values() if m.in_semantic_layer}
    assert claimed <= semantic
    # and the others are not: a name means one thing
    assert not {m.name for m in EXPERIMENT_METRICS.values() if not m.in_semantic_layer} & semantic


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"guardrail_metrics": ["retention_d7", "happiness"]}, "unknown metric(s) happiness"),
        ({"variants": {"control": 0.6, "test": 0.5}}, "shares sum to 1.1, not 1"),
        ({"planned_end": "2024-04-30"}, "planned_end 2024-04-30 is not after start 2024-05-01"),
        ({"control": "baseline"}, "control 'baseline' is not one of its variants"),
        ({"unit": "household"}, "unit: Input should be 'user' or 'device'"),
        ({"baseline": 1.5}, "baseline 1.5 of a rate must be below 1"),
        ({"secondary_metrics": ["retention_d7"]}, "retention_d7 listed more than once"),
    ],
)
def test_an_invalid_entry_fails_loading_naming_it(tmp_path, change, message):
    path = _write(tmp_path, VALID, {**VALID, "id": "exp_broken", **change})
    with pytest.raises(ExperimentRegistryError) as error:
        load_registry(path)
    assert "experiment 'exp_broken' is invalid" in str(error.value)
    assert message in str(error.value)


def test_an_experiment_registered_twice_fails_loading(tmp_path):
    with pytest.raises(ExperimentRegistryError, match="'exp_new_onboarding' is registered twice"):
        load_registry(_write(tmp_path, VALID, VALID))


def test_the_code_location_does_not_load_with_an_invalid_registry(tmp_path, monkeypatch):
    path = _write(tmp_path, {**VALID, "primary_metric": "happiness"})
    monkeypatch.setenv("CALBACK_EXPERIMENT_REGISTRY", str(path))
    with pytest.raises(ExperimentRegistryError, match=r"exp_new_onboarding.*happiness"):
        build_definitions(load_settings())
