"""A/B test statistics: conversion, capped revenue per user and sample-ratio mismatch.

Two-proportion z-test and a ratio confidence interval (statsmodels) for conversion, Welch's
t-test (scipy) for revenue per user with revenue capped at a percentile so a few whales cannot
swing it, and a chi-square test of assignment counts against the intended split (SRM).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

# The parameters are the asset's run config: their defaults and meaning are written there.
from calback_platform.assets.ab_tests import AbTestConfig

RESULT_COLUMNS = [
    "experiment_id",
    "registered",
    "variant_id",
    "is_control",
    "assigned_users",
    "intended_share",
    "users",
    "conversions",
    "conversion_rate",
    "revenue_cap",
    "revenue_per_user",
    "lift_vs_control",
    "p_value",
    "ci_low",
    "ci_high",
    "revenue_lift_vs_control",
    "revenue_p_value",
    "revenue_ci_low",
    "revenue_ci_high",
    "srm_p_value",
    "srm_flag",
]


def experiment_results(
    users: pd.DataFrame, variants: pd.DataFrame, config: AbTestConfig | None = None
) -> pd.DataFrame:
    """One row per experiment that has assignments, and per variant.

    `users`: experiment_id, variant_id, is_bot, is_converted, revenue (one row per assignment).
    `variants`: experiment_id, variant_id, intended_share, is_control (the registered designs).
    An experiment without a design still gets its figures, `registered` false: its variants
    are the ones assigned, `control` (if any) is the control, and with no intended split there
    is no sample-ratio test.
    """
    config = AbTestConfig() if config is None else config
    rows = []
    for experiment_id, assigned in users.groupby("experiment_id", sort=True):
        design = variants[variants["experiment_id"] == experiment_id]
        registered = len(design) > 0
        if not registered:
            design = pd.DataFrame(
                {
                    "variant_id": sorted(assigned["variant_id"].unique()),
                    "intended_share": float("nan"),
                }
            )
            design["is_control"] = design["variant_id"] == "control"
        rows += [
            {"registered": registered, **row}
            for row in _experiment_rows(experiment_id, design, assigned, config)
        ]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _experiment_rows(experiment_id, design, assigned, config) -> list[dict]:
    design = design.sort_values("variant_id")
    counts = assigned.groupby("variant_id").size().reindex(design["variant_id"], fill_value=0)
    shares = design["intended_share"].to_numpy(dtype=float)
    srm_p_value = None
    if counts.sum() and not np.isnan(shares).any():
        expected = shares / shares.sum() * counts.sum()
        srm_p_value = float(stats.chisquare(counts.to_numpy(), expected).pvalue)

    humans = assigned[~assigned["is_bot"].astype(bool)]
    cap = (
        float(np.percentile(humans["revenue"], config.revenue_cap_percentile))
        if len(humans)
        else 0.0
    )
    revenue = humans["revenue"].clip(upper=cap)
    controls = design.loc[design["is_control"].astype(bool), "variant_id"]
    control = humans[humans["variant_id"] == controls.iloc[0]] if len(controls) else None

    rows = []
    for variant in design.itertuples():
        group = humans[humans["variant_id"] == variant.variant_id]
        row = {
            "experiment_id": experiment_id,
            "variant_id": variant.variant_id,
            "is_control": bool(variant.is_control),
            "assigned_users": int(counts[variant.variant_id]),
            "intended_share": None
            if np.isnan(variant.intended_share)
            else float(variant.intended_share),
            "users": len(group),
            "conversions": int(group["is_converted"].sum()),
            "conversion_rate": _mean(group["is_converted"]),
            "revenue_cap": cap,
            "revenue_per_user": _mean(revenue[group.index]),
            "srm_p_value": srm_p_value,
            "srm_flag": srm_p_value is not None and srm_p_value < config.srm_alpha,
        }
        if control is not None and not variant.is_control and len(group) and len(control):
            row |= _conversion_test(group, control, config)
            row |= _revenue_test(revenue[group.index], revenue[control.index], config)
        rows.append(row)
    return rows


def _conversion_test(group, control, config) -> dict:
    count = (int(group["is_converted"].sum()), int(control["is_converted"].sum()))
    nobs = (len(group), len(control))
    if not count[1] or sum(count) == sum(nobs):
        return {}  # no control conversions (ratio undefined) or everyone converted
    _, p_value = proportions_ztest(count, nobs)
    low, high = confint_proportions_2indep(
        count[0], nobs[0], count[1], nobs[1], compare="ratio", alpha=1 - config.confidence
    )
    ratio = (count[0] / nobs[0]) / (count[1] / nobs[1])
    return {
        "lift_vs_control": ratio - 1,
        "p_value": float(p_value),
        "ci_low": float(low) - 1,
        "ci_high": float(high) - 1,
    }


def _revenue_test(group: pd.Series, control: pd.Series, config) -> dict:
    control_mean = control.mean()
    if len(group) < 2 or len(control) < 2 or not control_mean:
        return {}
    test = stats.ttest_ind(group, control, equal_var=False)
    interval = test.confidence_interval(confidence_level=config.confidence)
    return {
        "revenue_lift_vs_control": group.mean() / control_mean - 1,
        "revenue_p_value": float(test.pvalue),
        "revenue_ci_low": float(interval.low) / control_mean,
        "revenue_ci_high": float(interval.high) / control_mean,
    }


def _mean(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None
