"""The statistics of an A/B comparison, each from a well-kept library where one exists.

- Rates: two-proportion z-test and the interval of the ratio of two proportions (statsmodels).
- Means: Welch's t-test (scipy); the interval of the difference relative to control.
- Ratio metrics (a sum over a sum, such as clicks per impression): the delta method
  (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics").
- CUPED (Deng, Xu, Kohavi & Walker 2013): each user's value minus theta times the user's
  pre-experiment covariate (centred), theta = cov(y, x) / var(x) over the experiment's users.
- Sequential testing: the mixture sequential probability ratio test (mSPRT; Robbins 1970,
  Johari, Koomen, Pekelis & Walsh 2017, "Peeking at A/B Tests"), whose p-values and intervals
  stay valid however often they are read.
- Sample size: statsmodels' power of the normal test (Cohen's h for rates, d for means).
- Multiple comparisons: Holm or Benjamini-Hochberg (statsmodels `multipletests`).
- Sample-ratio mismatch: chi-square of assignments against the intended split (scipy).
- Interaction of two overlapping experiments: a Poisson GLM with a log link (statsmodels,
  robust errors) of the metric on both experiments' variants and their product; the Wald test
  of the products asks whether one experiment's relative lift depends on the other's variant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

from calback_platform.experiments.metrics import ExperimentMetric


@dataclass
class Comparison:
    """A variant against control on one metric: the relative lift with its interval and p."""

    lift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None


@dataclass
class Sample:
    """One variant's users on one metric: values (a ratio's numerators), a ratio's
    denominators, and the pre-experiment covariate."""

    values: np.ndarray
    denominators: np.ndarray | None = None
    covariates: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)

    def value(self) -> float | None:
        if not len(self):
            return None
        if self.denominators is not None:
            total = self.denominators.sum()
            return float(self.values.sum() / total) if total else None
        return float(self.values.mean())


def compare(
    metric: ExperimentMetric, test: Sample, control: Sample, confidence: float
) -> Comparison:
    """The fixed-horizon comparison: the metric kind's own test."""
    if len(test) < 2 or len(control) < 2:
        return Comparison()
    if metric.kind == "proportion":
        return _proportions(test.values, control.values, confidence)
    if metric.kind == "ratio":
        return _ratios(test, control, confidence)
    return _means(test.values, control.values, confidence)


def _proportions(test: np.ndarray, control: np.ndarray, confidence: float) -> Comparison:
    count = (int(test.sum()), int(control.sum()))
    nobs = (len(test), len(control))
    if not count[1] or sum(count) == sum(nobs):
        return Comparison()  # no control conversions (ratio undefined), or everyone converted
    _, p_value = proportions_ztest(count, nobs)
    low, high = confint_proportions_2indep(
        count[0], nobs[0], count[1], nobs[1], compare="ratio", alpha=1 - confidence
    )
    ratio = (count[0] / nobs[0]) / (count[1] / nobs[1])
    return Comparison(ratio - 1, float(low) - 1, float(high) - 1, float(p_value))


def _means(test: np.ndarray, control: np.ndarray, confidence: float) -> Comparison:
    control_mean = control.mean()
    if not control_mean or (np.var(test) == 0 and np.var(control) == 0):
        return Comparison()
    result = stats.ttest_ind(test, control, equal_var=False)
    interval = result.confidence_interval(confidence_level=confidence)
    return Comparison(
        float(test.mean() / control_mean - 1),
        float(interval.low / control_mean),
        float(interval.high / control_mean),
        float(result.pvalue),
    )


def _ratio_and_variance(sample: Sample) -> tuple[float, float]:
    """A ratio of sums and its variance by the delta method."""
    numerators, denominators = sample.values, sample.denominators
    n = len(numerators)
    mean_numerator, mean_denominator = numerators.mean(), denominators.mean()
    ratio = mean_numerator / mean_denominator
    covariance = np.cov(numerators, denominators, ddof=1)
    variance = (covariance[0, 0] - 2 * ratio * covariance[0, 1] + ratio**2 * covariance[1, 1]) / (
        n * mean_denominator**2
    )
    return float(ratio), float(variance)


def _ratios(test: Sample, control: Sample, confidence: float) -> Comparison:
    if not test.denominators.sum() or not control.denominators.sum():
        return Comparison()
    ratio_test, variance_test = _ratio_and_variance(test)
    ratio_control, variance_control = _ratio_and_variance(control)
    if not ratio_control or not variance_test + variance_control:
        return Comparison()
    z = (ratio_test - ratio_control) / np.sqrt(variance_test + variance_control)
    lift = ratio_test / ratio_control - 1
    # Var(rt / rc) by the delta method, the two variants independent
    lift_se = np.sqrt(
        variance_test / ratio_control**2 + variance_control * ratio_test**2 / ratio_control**4
    )
    half = stats.norm.ppf(0.5 + confidence / 2) * lift_se
    return Comparison(
        float(lift), float(lift - half), float(lift + half), float(2 * stats.norm.sf(abs(z)))
    )


@dataclass
class Cuped:
    comparison: Comparison
    variance_reduction: float  # 1 - var(adjusted) / var(unadjusted), over the experiment's users


def cuped_theta(values: np.ndarray, covariates: np.ndarray) -> float:
    """theta = cov(y, x) / var(x), pooled over all variants (so it is the same adjustment for
    everyone and the estimate stays unbiased); 0 when the covariate does not vary."""
    variance = np.var(covariates, ddof=1)
    return float(np.cov(values, covariates, ddof=1)[0, 1] / variance) if variance > 0 else 0.0


def cuped(test: Sample, control: Sample, theta: float, centre: float, confidence: float) -> Cuped:
    """Welch's test on the CUPED-adjusted values, y - theta (x - mean x)."""
    adjusted_test = test.values - theta * (test.covariates - centre)
    adjusted_control = control.values - theta * (control.covariates - centre)
    before = np.var(np.concatenate([test.values, control.values]), ddof=1)
    after = np.var(np.concatenate([adjusted_test, adjusted_control]), ddof=1)
    reduction = float(1 - after / before) if before > 0 else 0.0
    comparison = Comparison()
    if len(test) >= 2 and len(control) >= 2:
        comparison = _means(adjusted_test, adjusted_control, confidence)
    return Cuped(comparison, reduction)


def msprt(difference, variance, tau_squared, alpha: float):
    """The always-valid p-value and interval half-width of a difference of means, by the
    mixture SPRT with a normal mixing distribution N(0, tau_squared) on the difference.
    Vectorised: arrays of differences and their variances (e.g. a day's looks of many runs)
    give arrays back.

    The likelihood ratio of "difference = theta, mixed over theta" against "difference = 0" is
    L = sqrt(v / (v + t)) * exp(t d^2 / (2 v (v + t))) for an estimate d of variance v
    (t = tau_squared). Under no difference L is a martingale, so by Ville's inequality it ever
    exceeds 1 / alpha with probability at most alpha: p = min(1, 1 / L) and the interval of the
    d with L < 1 / alpha hold at every look at once.
    """
    difference = np.asarray(difference, dtype=float)
    variance = np.asarray(variance, dtype=float)
    shrink = variance / (variance + tau_squared)
    log_ratio = 0.5 * np.log(shrink) + tau_squared * difference**2 / (
        2 * variance * (variance + tau_squared)
    )
    p_value = np.minimum(1.0, np.exp(-log_ratio))
    half_width = np.sqrt(
        2
        * variance
        * (variance + tau_squared)
        / tau_squared
        * (np.log(1 / alpha) - 0.5 * np.log(shrink))
    )
    return p_value, half_width


def sequential(
    metric: ExperimentMetric, test: Sample, control: Sample, relative_effect: float, alpha: float
) -> Comparison:
    """The always-valid comparison (mSPRT) of the difference of means (of rates, for a
    proportion), as a relative lift. The mixing scale is the relative effect the experiment
    was sized for, times the control's value."""
    if metric.kind == "ratio" or len(test) < 2 or len(control) < 2:
        return Comparison()  # a ratio metric is read at the fixed horizon only
    control_mean = control.values.mean()
    variance = np.var(test.values, ddof=1) / len(test) + np.var(control.values, ddof=1) / len(
        control
    )
    if not control_mean or not variance:
        return Comparison()
    difference = test.values.mean() - control_mean
    tau_squared = (relative_effect * control_mean) ** 2
    p_value, half_width = msprt(difference, variance, tau_squared, alpha)
    return Comparison(
        float(difference / control_mean),
        float((difference - half_width) / control_mean),
        float((difference + half_width) / control_mean),
        float(p_value),
    )


def required_sample_per_variant(
    metric: ExperimentMetric,
    baseline: float,
    relative_effect: float,
    alpha: float,
    power: float,
    standard_deviation: float | None,
) -> int | None:
    """Users per variant to detect the relative effect at this power (two-sided, equal
    variants). A mean needs the metric's standard deviation (measured on the experiment's
    users); a ratio, that of its per-user linearisation."""
    if metric.kind == "proportion":
        target = min(baseline * (1 + relative_effect), 1.0)
        effect_size = abs(proportion_effectsize(target, baseline))
    elif standard_deviation:
        effect_size = abs(baseline * relative_effect) / standard_deviation
    else:
        return None
    if not effect_size:
        return None
    n = NormalIndPower().solve_power(effect_size=effect_size, alpha=alpha, power=power, ratio=1)
    return int(np.ceil(n))


def linearised_standard_deviation(metric: ExperimentMetric, sample: Sample) -> float | None:
    """The per-user standard deviation that sizes a mean or ratio metric."""
    if len(sample) < 2:
        return None
    if metric.kind != "ratio":
        return float(np.std(sample.values, ddof=1))
    mean_denominator = sample.denominators.mean()
    if not mean_denominator:
        return None
    ratio = sample.values.sum() / sample.denominators.sum()
    return float(np.std((sample.values - ratio * sample.denominators) / mean_denominator, ddof=1))


def adjust(p_values: list[float | None], method: str) -> list[float | None]:
    """Corrected p-values (`holm` or `fdr_bh`), None where there was no test."""
    present = [i for i, p in enumerate(p_values) if p is not None and not np.isnan(p)]
    adjusted: list[float | None] = [None] * len(p_values)
    if len(present) == 1:  # one test: nothing to correct (and multipletests costs a gc pass)
        adjusted[present[0]] = float(p_values[present[0]])
    elif present:
        corrected = multipletests([p_values[i] for i in present], method=method)[1]
        for i, p in zip(present, corrected, strict=True):
            adjusted[i] = float(p)
    return adjusted


def sample_ratio_p_value(counts: np.ndarray, shares: np.ndarray) -> float | None:
    """Chi-square p-value of assignment counts against the intended shares."""
    if not counts.sum():
        return None
    expected = shares / shares.sum() * counts.sum()
    return float(stats.chisquare(counts, expected).pvalue)


def interaction_p_value(
    values: np.ndarray, first_variant: np.ndarray, second_variant: np.ndarray
) -> float | None:
    """Does one experiment's relative effect depend on the other's variant? Wald test of the
    interaction terms of log E[y] = a + first + second + first x second (Poisson GLM, robust
    errors) over the users in both. The variants are 0 for control, 1.. for the others. None
    when a cell is empty or all zero (its log mean is undefined)."""
    import statsmodels.api as sm  # the model API takes a second to import

    cells = [
        values[(first_variant == a) & (second_variant == b)]
        for a in np.unique(first_variant)
        for b in np.unique(second_variant)
    ]
    if len(cells) < 4 or any(len(cell) < 2 or not cell.sum() for cell in cells):
        return None
    first = _dummies(first_variant)
    second = _dummies(second_variant)
    products = np.column_stack([f * s for f in first.T for s in second.T])
    design = np.column_stack([np.ones(len(values)), first, second, products])
    fit = sm.GLM(values, design, family=sm.families.Poisson()).fit(cov_type="HC0")
    terms = np.zeros((products.shape[1], design.shape[1]))
    terms[:, -products.shape[1] :] = np.eye(products.shape[1])
    return float(fit.wald_test(terms, scalar=True).pvalue)


def _dummies(codes: np.ndarray) -> np.ndarray:
    levels = [level for level in np.unique(codes) if level != 0]
    return np.column_stack([(codes == level).astype(float) for level in levels])
