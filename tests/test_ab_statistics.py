"""A/B statistics on small inputs worked out by hand."""

import pandas as pd
import pytest
from scipy import stats

from calback_platform.ab_statistics import experiment_results
from calback_platform.assets.ab_tests import AbTestConfig

VARIANTS = pd.DataFrame(
    {
        "experiment_id": ["e", "e"],
        "variant_id": ["control", "test"],
        "intended_share": [0.5, 0.5],
        "is_control": [True, False],
    }
)


def _users(control: tuple[int, int], test: tuple[int, int], bots: int = 0) -> pd.DataFrame:
    """(assigned humans, converted) per variant; converted users spend 100."""
    rows = []
    for variant, (n, converted) in (("control", control), ("test", test)):
        rows += [
            {
                "experiment_id": "e",
                "variant_id": variant,
                "is_bot": False,
                "is_converted": i < converted,
                "revenue": 100.0 if i < converted else 0.0,
            }
            for i in range(n)
        ]
    rows += [
        {
            "experiment_id": "e",
            "variant_id": "test",
            "is_bot": True,
            "is_converted": True,
            "revenue": 1e9,
        }
        for _ in range(bots)
    ]
    return pd.DataFrame(rows)


def test_conversion_lift_and_interval():
    results = experiment_results(_users((1000, 100), (1000, 150)), VARIANTS).set_index("variant_id")
    test = results.loc["test"]
    assert test["conversion_rate"] == 0.15
    assert results.loc["control", "conversion_rate"] == 0.10
    assert test["lift_vs_control"] == pytest.approx(0.5)
    assert test["p_value"] < 0.01
    assert test["ci_low"] < 0.5 < test["ci_high"]
    assert pd.isna(results.loc["control", "p_value"])


def test_bots_count_for_srm_but_not_for_metrics():
    results = experiment_results(_users((500, 50), (500, 50), bots=100), VARIANTS)
    results = results.set_index("variant_id")
    assert results.loc["test", "users"] == 500
    assert results.loc["test", "assigned_users"] == 600
    expected = stats.chisquare([500, 600], [550, 550]).pvalue
    assert results.loc["test", "srm_p_value"] == pytest.approx(expected)
    assert results.loc["test", "conversion_rate"] == 0.10


def test_srm_flag_and_revenue_cap():
    users = _users((5600, 500), (4400, 400))
    users.loc[0, "revenue"] = 10_000_000.0  # a whale
    results = experiment_results(users, VARIANTS, AbTestConfig(revenue_cap_percentile=99))
    assert results["srm_flag"].all()
    assert (results["revenue_cap"] == 100.0).all()
    control = results.set_index("variant_id").loc["control"]
    assert control["revenue_per_user"] == pytest.approx(500 * 100 / 5600)


def test_experiments_come_from_the_assignments():
    """An experiment assigned but not registered still gets its figures, flagged, without a
    sample-ratio test; one registered but never assigned gets no rows."""
    users = _users((100, 10), (100, 20))
    users["experiment_id"] = "unregistered"
    designs = pd.concat([VARIANTS.assign(experiment_id="never_assigned"), VARIANTS])
    results = experiment_results(users, designs).set_index("variant_id")
    assert set(results["experiment_id"]) == {"unregistered"}
    assert not results["registered"].any()
    assert results["srm_p_value"].isna().all() and not results["srm_flag"].any()
    assert results.loc["control", "is_control"]
    assert results.loc["test", "lift_vs_control"] == pytest.approx(1.0)  # 20% against 10%
