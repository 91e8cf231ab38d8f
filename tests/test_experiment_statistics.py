"""The experiment statistics against hand computations, textbook formulas and simulations.

The simulations are vectorised (numpy over thousands of runs at once) and seeded: each runs in
well under a second and fails if the method is wrong, not by bad luck (margins of at least four
Monte Carlo standard errors).
"""

import numpy as np
import pytest
from scipy import stats

from calback_platform.experiments import statistics as st
from calback_platform.experiments.metrics import EXPERIMENT_METRICS

CONVERSION = EXPERIMENT_METRICS["conversion_rate"]
ACTIVE_DAYS = EXPERIMENT_METRICS["active_days"]
CTR = EXPERIMENT_METRICS["recommendation_ctr"]


def _converted(n: int, conversions: int) -> st.Sample:
    return st.Sample(np.array([1.0] * conversions + [0.0] * (n - conversions)))


def test_two_proportion_lift_interval_and_p():
    result = st.compare(CONVERSION, _converted(1000, 150), _converted(1000, 100), 0.95)
    assert result.lift == pytest.approx(0.5)
    # the pooled two-proportion z-test, by hand
    pooled = 250 / 2000
    z = (0.15 - 0.10) / np.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert result.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert result.ci_low < 0.5 < result.ci_high
    assert result.ci_low > 0.1 and result.ci_high < 1.0


def test_welch_lift_is_relative_to_control():
    rng = np.random.default_rng(1)
    test, control = rng.normal(11, 2, 400), rng.normal(10, 3, 500)
    result = st.compare(ACTIVE_DAYS, st.Sample(test), st.Sample(control), 0.95)
    welch = stats.ttest_ind(test, control, equal_var=False)
    assert result.p_value == pytest.approx(welch.pvalue)
    assert result.lift == pytest.approx(test.mean() / control.mean() - 1)
    interval = welch.confidence_interval(0.95)
    assert result.ci_low == pytest.approx(interval.low / control.mean())


def _ratio_samples(rng, runs: int, users: int, effect: float = 0.0):
    """Clicks over impressions per user: impressions vary by user, clicks ~ Binomial."""
    impressions = rng.poisson(5, (runs, 2, users)).astype(float)
    rates = np.array([0.2 * (1 + effect), 0.2])[None, :, None]
    clicks = rng.binomial(impressions.astype(int), rates).astype(float)
    return clicks, impressions


def test_delta_method_interval_covers_at_its_level():
    """A/A ratio metric: the 95% interval of the lift covers 0 in about 95% of 2,000 runs."""
    rng = np.random.default_rng(2)
    clicks, impressions = _ratio_samples(rng, 2000, 300)
    covered = 0
    for run in range(2000):
        test = st.Sample(clicks[run, 0], impressions[run, 0])
        control = st.Sample(clicks[run, 1], impressions[run, 1])
        result = st.compare(CTR, test, control, 0.95)
        covered += result.ci_low <= 0 <= result.ci_high
    # 4 standard errors of a 95% rate over 2,000 runs: 0.019
    assert abs(covered / 2000 - 0.95) < 0.02


def test_delta_method_finds_a_real_ratio_effect():
    rng = np.random.default_rng(3)
    clicks, impressions = _ratio_samples(rng, 1, 4000, effect=0.2)
    result = st.compare(
        CTR,
        st.Sample(clicks[0, 0], impressions[0, 0]),
        st.Sample(clicks[0, 1], impressions[0, 1]),
        0.95,
    )
    assert result.p_value < 1e-6
    assert result.ci_low < 0.2 < result.ci_high


def test_cuped_reduces_variance_by_the_squared_correlation_and_keeps_the_lift():
    rng = np.random.default_rng(4)
    n, correlation = 20_000, 0.8
    before = rng.normal(5, 1, (2, n))
    after = 5 + correlation * (before - 5) + np.sqrt(1 - correlation**2) * rng.normal(0, 1, (2, n))
    after[0] += 0.05  # the test variant's effect
    test = st.Sample(after[0], covariates=before[0])
    control = st.Sample(after[1], covariates=before[1])
    values, covariates = after.ravel(), before.ravel()
    theta = st.cuped_theta(values, covariates)
    adjusted = st.cuped(test, control, theta, covariates.mean(), 0.95)
    plain = st.compare(ACTIVE_DAYS, test, control, 0.95)
    assert adjusted.variance_reduction == pytest.approx(correlation**2, abs=0.02)
    assert adjusted.comparison.lift == pytest.approx(0.05 / 5, abs=0.004)
    narrower = (adjusted.comparison.ci_high - adjusted.comparison.ci_low) / (
        plain.ci_high - plain.ci_low
    )
    assert narrower == pytest.approx(np.sqrt(1 - correlation**2), abs=0.05)
    assert adjusted.comparison.p_value < plain.p_value


def _daily_looks(rng, runs: int, days: int, per_day: int, rates: tuple[float, float]):
    """Cumulative conversions of test and control after each day of each run."""
    converted = rng.binomial(per_day, np.array(rates)[None, None, :], (runs, days, 2)).cumsum(1)
    n = per_day * np.arange(1, days + 1)[None, :]
    p = converted / n[..., None]
    difference = p[..., 0] - p[..., 1]
    variance = (p[..., 0] * (1 - p[..., 0]) + p[..., 1] * (1 - p[..., 1])) / n
    return difference, np.maximum(variance, 1e-12)


def test_peeking_every_day_keeps_msprt_at_its_level_and_inflates_the_fixed_test():
    """20,000 A/A runs of 30 days, read after every day. The fixed-horizon z-test "finds" an
    effect on some day in far more than 5% of them; the mSPRT's always-valid p-value in at
    most 5%."""
    rng = np.random.default_rng(5)
    runs, alpha = 20_000, 0.05
    difference, variance = _daily_looks(rng, runs, 30, 200, (0.1, 0.1))
    fixed = 2 * stats.norm.sf(np.abs(difference) / np.sqrt(variance))
    naive_rate = (fixed < alpha).any(axis=1).mean()
    tau_squared = (0.2 * 0.1) ** 2  # sized for a 20% lift on a 10% rate
    p_value, _ = st.msprt(difference, variance, tau_squared, alpha)
    sequential_rate = (p_value < alpha).any(axis=1).mean()
    monte_carlo_se = np.sqrt(alpha * (1 - alpha) / runs)  # 0.0015
    assert sequential_rate <= alpha + 4 * monte_carlo_se
    assert naive_rate > 0.15  # peeking at a fixed test: several times its level


def test_msprt_still_detects_a_real_effect_and_its_interval_holds_at_every_look():
    rng = np.random.default_rng(6)
    difference, variance = _daily_looks(rng, 2000, 30, 200, (0.13, 0.1))
    p_value, half_width = st.msprt(difference, variance, (0.2 * 0.1) ** 2, 0.05)
    assert (p_value < 0.05).any(axis=1).mean() > 0.8  # power over the 30 days
    # the always-valid interval of the difference (0.03) holds at every look of a run at once
    missed = (np.abs(difference - 0.03) > half_width).any(axis=1).mean()
    assert missed <= 0.05 + 4 * np.sqrt(0.05 * 0.95 / 2000)


def test_required_sample_matches_the_textbook_formula():
    n = st.required_sample_per_variant(CONVERSION, 0.10, 0.2, 0.05, 0.8, None)
    p1, p2 = 0.10, 0.12
    z_alpha, z_beta = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    mean = (p1 + p2) / 2
    textbook = (
        z_alpha * np.sqrt(2 * mean * (1 - mean)) + z_beta * np.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    ) ** 2 / (p2 - p1) ** 2
    assert n == pytest.approx(textbook, rel=0.02)  # ~3,840 per variant
    # a mean: 2 (z_a + z_b)^2 / d^2 with d = effect / standard deviation
    n = st.required_sample_per_variant(ACTIVE_DAYS, 3.0, 0.1, 0.05, 0.8, 2.0)
    assert n == pytest.approx(2 * (z_alpha + z_beta) ** 2 / (0.3 / 2.0) ** 2, rel=0.01)


def test_corrections_holm_and_benjamini_hochberg():
    p_values = [0.01, 0.04, 0.03, None]
    assert st.adjust(p_values, "holm") == pytest.approx([0.03, 0.06, 0.06, None])
    assert st.adjust(p_values, "fdr_bh") == pytest.approx([0.03, 0.04, 0.04, None])


def test_sample_ratio_mismatch():
    assert st.sample_ratio_p_value(np.array([5600, 4400]), np.array([0.5, 0.5])) < 1e-30
    p = st.sample_ratio_p_value(np.array([500, 600]), np.array([0.5, 0.5]))
    assert p == pytest.approx(stats.chisquare([500, 600], [550, 550]).pvalue)


def _overlapping(rng, n: int, interaction: float) -> tuple[np.ndarray, ...]:
    """Two experiments over the same users, multiplicative effects on a count; `interaction`
    multiplies the cell where both are treated."""
    first, second = rng.integers(0, 2, n), rng.integers(0, 2, n)
    mean = 2.0 * 1.3**first * 1.2**second * interaction ** (first * second)
    return rng.poisson(mean).astype(float), first, second


def test_independent_experiments_do_not_interact_and_a_planted_interaction_is_found():
    rng = np.random.default_rng(7)
    p_values = [st.interaction_p_value(*_overlapping(rng, 2000, 1.0)) for _ in range(200)]
    # effects that multiply are no interaction: false alarms at about the level (5% of 200:
    # 10, four standard errors of margin)
    assert sum(p < 0.05 for p in p_values) <= 22
    assert st.interaction_p_value(*_overlapping(rng, 2000, 0.7)) < 1e-6
