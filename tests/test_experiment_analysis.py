"""The decision rule and the notices, on assignments built with a known truth."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from calback_platform.assets.ab_tests import AbTestConfig
from calback_platform.experiments.analysis import analyse
from calback_platform.experiments.metrics import user_columns
from calback_platform.experiments.registry import ExperimentRegistry, RegisteredExperiment

LAST_LOADED = date(2024, 3, 30)


def _design(experiment_id: str, **overrides) -> RegisteredExperiment:
    values = {
        "id": experiment_id,
        "hypothesis": "It helps.",
        "owner": "Growth team",
        "unit": "user",
        "variants": {"control": 0.5, "test": 0.5},
        "start": date(2024, 3, 1),
        "planned_end": date(2024, 3, 31),
        "primary_metric": "conversion_rate",
        "guardrail_metrics": ["active_days"],
        "minimum_detectable_effect": 0.3,
        "baseline": 0.1,
    }
    return RegisteredExperiment.model_validate(values | overrides)


def _users(
    experiment_id: str,
    sizes: dict[str, int],
    conversion: dict[str, float],
    active_days: dict[str, float] | None = None,
    seed: int = 0,
    bots: int = 0,
) -> pd.DataFrame:
    """Assignments over March with outcomes drawn from the given rates and means."""
    rng = np.random.default_rng(seed)
    frames = []
    for variant, n in sizes.items():
        frame = pd.DataFrame({column: 0 for column in user_columns()}, index=range(n))
        frame["experiment_id"] = experiment_id
        frame["variant_id"] = variant
        frame["user_id"] = [f"{experiment_id}_{variant}_{i}" for i in range(n)]
        frame["assigned_date"] = pd.to_datetime(
            [date(2024, 3, 1) + timedelta(days=int(d)) for d in rng.integers(0, 30, n)]
        )
        frame["is_converted"] = rng.random(n) < conversion[variant]
        frame["revenue"] = frame["is_converted"] * 9900.0
        frame["active_days"] = rng.poisson((active_days or {}).get(variant, 3.0), n)
        frame["is_bot"] = False
        frames.append(frame)
    users = pd.concat(frames, ignore_index=True)
    users.loc[users.index[:bots], "is_bot"] = True
    return users


def _decide(users: pd.DataFrame, *designs: RegisteredExperiment):
    registry = ExperimentRegistry(experiments=list(designs))
    analysis = analyse(users, registry, AbTestConfig(), LAST_LOADED)
    return analysis, analysis.decisions.set_index("experiment_id")


def test_a_clear_winner_at_the_planned_sample_ships():
    users = _users("e", {"control": 3000, "test": 3000}, {"control": 0.1, "test": 0.14})
    analysis, decisions = _decide(users, _design("e"))
    decision = decisions.loc["e"]
    assert decision["decision"] == "ship" and decision["best_variant"] == "test"
    assert decision["planned_sample_reached"]
    assert decision["required_users_per_variant"] < 3000
    assert [n.kind for n in analysis.notices] == ["planned_sample"]


def test_before_the_planned_sample_it_keeps_running_and_says_how_long():
    users = _users("e", {"control": 300, "test": 300}, {"control": 0.1, "test": 0.14})
    _, decisions = _decide(users, _design("e"))
    decision = decisions.loc["e"]
    assert decision["decision"] == "keep running"
    required = decision["required_users_per_variant"]
    assert decision["progress"] == pytest.approx(300 / required)
    # 300 users per variant over the 30 days since the start: 10 a day
    assert decision["daily_users_per_variant"] == pytest.approx(10, rel=0.1)
    assert decision["days_needed"] == pytest.approx((required - 300) / 10, rel=0.1)


def test_a_sequential_experiment_stops_early_on_a_clear_result():
    users = _users("e", {"control": 500, "test": 500}, {"control": 0.1, "test": 0.3})
    _, decisions = _decide(users, _design("e", analysis="sequential"))
    decision = decisions.loc["e"]
    assert not decision["planned_sample_reached"]
    assert decision["decision"] == "ship"


def test_a_a_tests_are_inconclusive_at_the_rate_of_the_level():
    """40 A/A experiments analysed together: about 5% may come out significant by chance
    (at most 6 of 40: a binomial tail of 0.2%), never one with a sample-ratio mismatch."""
    sizes, rates = {"control": 1500, "test": 1500}, {"control": 0.1, "test": 0.1}
    users = pd.concat([_users(f"aa{seed}", sizes, rates, seed=seed) for seed in range(40)])
    designs = [_design(f"aa{seed}", minimum_detectable_effect=0.5) for seed in range(40)]
    _, decisions = _decide(users, *designs)
    assert decisions["planned_sample_reached"].all()
    assert (decisions["decision"] != "inconclusive").sum() <= 6
    assert not decisions["srm_flag"].any()


def test_a_harmed_guardrail_overrides_a_winning_primary_metric():
    users = _users(
        "e",
        {"control": 3000, "test": 3000},
        {"control": 0.1, "test": 0.14},
        active_days={"control": 3.0, "test": 2.5},
    )
    analysis, decisions = _decide(users, _design("e"))
    assert decisions.loc["e", "decision"] == "guardrail breached"
    assert decisions.loc["e", "guardrails_breached"].startswith("active_days (test -1")
    assert {n.kind for n in analysis.notices} == {"planned_sample", "guardrail"}


def test_sample_ratio_mismatch_invalidates_whatever_the_lift():
    users = _users("e", {"control": 3300, "test": 2700}, {"control": 0.1, "test": 0.14})
    analysis, decisions = _decide(users, _design("e"))
    assert decisions.loc["e", "decision"] == "invalid (SRM)"
    assert "srm" in {n.kind for n in analysis.notices}


def test_bots_count_for_the_sample_ratio_test_only():
    users = _users("e", {"control": 1000, "test": 1000}, {"control": 0.1, "test": 0.1}, bots=200)
    analysis, decisions = _decide(users, _design("e"))
    assert decisions.loc["e", "users_per_variant"] == 800  # the bots were all in control
    assert not decisions.loc["e", "srm_flag"]  # 1,000 assigned each, as intended
    control = analysis.results.query("metric == 'conversion_rate' and is_control").iloc[0]
    assert control["assigned_users"] == 1000 and control["users"] == 800


def test_an_unregistered_experiment_gets_results_but_no_decision():
    users = _users("ghost", {"control": 500, "test": 500}, {"control": 0.1, "test": 0.2})
    analysis, decisions = _decide(users, _design("other"))
    assert not decisions.loc["ghost", "registered"]
    assert pd.isna(decisions.loc["ghost", "decision"])
    results = analysis.results
    assert set(results["metric"]) == {"conversion_rate", "arpu"}
    assert not results["registered"].any() and results["srm_p_value"].isna().all()
    assert analysis.notices == []


def test_several_variants_are_corrected_on_the_primary_metric():
    sizes = {"control": 4000, "a": 4000, "b": 4000, "c": 4000}
    rates = {"control": 0.1, "a": 0.1, "b": 0.1, "c": 0.13}
    users = _users("multi", sizes, rates, seed=5)
    design = _design("multi", variants={v: 0.25 for v in sizes})
    analysis, decisions = _decide(users, design)
    primary = analysis.results.query("metric_role == 'primary' and not is_control")
    primary = primary.set_index("variant_id")
    # Holm: the smallest p-value is multiplied by the number of comparisons
    smallest = primary["p_value"].idxmin()
    assert primary.loc[smallest, "adjusted_p_value"] == pytest.approx(
        3 * primary.loc[smallest, "p_value"]
    )
    assert decisions.loc["multi", "best_variant"] == "c"
