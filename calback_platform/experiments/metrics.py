"""The metrics an experiment may name in the registry, each read per user from
`marts.ab_test_users` (its outcomes since assignment, and a pre-experiment covariate for CUPED).

A name that is a metric of the semantic layer (dbt `_metrics.yml`) measures the same thing per
assigned user since assignment; the others come from the marts only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How a metric is compared: a rate of users (two-proportion test), a mean per user (Welch's
# t-test) or a ratio of two sums over users (delta method).
MetricKind = Literal["proportion", "mean", "ratio"]


@dataclass(frozen=True)
class ExperimentMetric:
    name: str
    kind: MetricKind
    column: str  # the per-user value; a ratio's numerator
    description: str
    in_semantic_layer: bool
    denominator: str | None = None  # a ratio's denominator
    covariate: str | None = None  # its pre-experiment value, for CUPED
    capped: bool = False  # per-user values above the revenue cap are capped (whales)
    higher_is_better: bool = True


EXPERIMENT_METRICS = {
    metric.name: metric
    for metric in (
        ExperimentMetric(
            "conversion_rate",
            "proportion",
            "is_converted",
            "Share of assigned users with a purchase since assignment.",
            in_semantic_layer=True,
            covariate="pre_purchases",
        ),
        ExperimentMetric(
            "arpu",
            "mean",
            "revenue",
            "Revenue per assigned user since assignment (KRW), capped at the revenue cap.",
            in_semantic_layer=True,
            covariate="pre_revenue",
            capped=True,
        ),
        ExperimentMetric(
            "purchases",
            "mean",
            "purchases",
            "Purchases per assigned user since assignment.",
            in_semantic_layer=True,
            covariate="pre_purchases",
        ),
        ExperimentMetric(
            "meetings_created",
            "mean",
            "meetings_created",
            "Meetings created per assigned user since assignment.",
            in_semantic_layer=True,
            covariate="pre_meetings_created",
        ),
        ExperimentMetric(
            "retention_d7",
            "proportion",
            "is_retained_d7",
            "Share of assigned users active on the 7th day after assignment (users whose "
            "7th day is not loaded yet are left out).",
            in_semantic_layer=True,
            covariate="pre_active_days",
        ),
        ExperimentMetric(
            "active_days",
            "mean",
            "active_days",
            "Days with activity per assigned user since assignment.",
            in_semantic_layer=False,
            covariate="pre_active_days",
        ),
        ExperimentMetric(
            "recommendation_ctr",
            "ratio",
            "recommendation_clicks",
            "Recommendation clicks per recommended item shown, over all assigned users.",
            in_semantic_layer=False,
            denominator="recommendation_impressions",
        ),
    )
}


def user_columns() -> list[str]:
    """The columns of marts.ab_test_users the metrics read."""
    columns = {"experiment_id", "variant_id", "user_id", "assigned_date", "observed_days"}
    for metric in EXPERIMENT_METRICS.values():
        columns |= {metric.column, metric.denominator, metric.covariate} - {None}
    return sorted(columns)
