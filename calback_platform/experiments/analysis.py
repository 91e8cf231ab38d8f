"""From assignments and outcomes (`marts.ab_test_users`) and the registry to three tables:
per experiment, variant and metric the results; per experiment the decision, its planned
sample and progress; per pair of overlapping experiments whether their effects interact.

The decision rule, in order (the README explains it to the product team):
1. not in the registry: no decision;
2. `invalid (SRM)`: the assignment counts do not fit the intended split;
3. `guardrail breached`: a guardrail metric is significantly worse in a variant;
4. `keep running`: the planned sample per variant is not reached (a sequential experiment
   stops early when its primary metric is already significant);
5. `ship`: a variant is significantly better on the primary metric (Holm or BH corrected);
6. `don't ship`: the variants that differ significantly are all worse;
7. `inconclusive`: otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations

import numpy as np
import pandas as pd

from calback_platform.assets.ab_tests import AbTestConfig
from calback_platform.experiments import statistics as st
from calback_platform.experiments.metrics import EXPERIMENT_METRICS, ExperimentMetric
from calback_platform.experiments.registry import ExperimentRegistry, RegisteredExperiment

# What an experiment nobody registered is still measured on.
UNREGISTERED_METRICS = [("conversion_rate", "secondary"), ("arpu", "secondary")]

RESULT_COLUMNS = [
    "experiment_id", "registered", "analysis", "metric", "metric_role", "metric_kind",
    "variant_id", "is_control", "assigned_users", "intended_share", "users", "value",
    "lift", "ci_low", "ci_high", "p_value", "adjusted_p_value", "is_significant",
    "cuped_lift", "cuped_ci_low", "cuped_ci_high", "cuped_p_value", "variance_reduction",
    "revenue_cap", "srm_p_value", "srm_flag",
]  # fmt: skip
DECISION_COLUMNS = [
    "experiment_id", "registered", "hypothesis", "owner", "unit", "start_date",
    "planned_end_date", "analysis", "primary_metric", "decision", "decision_reason",
    "best_variant", "users_per_variant", "required_users_per_variant", "progress",
    "planned_sample_reached", "daily_users_per_variant", "days_needed", "srm_p_value",
    "srm_flag", "guardrails_breached",
]  # fmt: skip
INTERACTION_COLUMNS = [
    "experiment_id", "other_experiment_id", "metric", "overlapping_users", "p_value",
    "adjusted_p_value", "interacts",
]  # fmt: skip


@dataclass
class Notice:
    """What Slack hears about an experiment, once: `kind` is planned_sample, srm or guardrail."""

    experiment_id: str
    kind: str
    text: str


@dataclass
class Analysis:
    results: pd.DataFrame
    decisions: pd.DataFrame
    interactions: pd.DataFrame
    notices: list[Notice] = field(default_factory=list)


def analyse(
    users: pd.DataFrame, registry: ExperimentRegistry, config: AbTestConfig, last_loaded: date
) -> Analysis:
    """`users`: one row per assignment (marts.ab_test_users); `last_loaded`: the last day
    the warehouse holds, for traffic and progress."""
    results, decisions, notices, analysed = [], [], [], {}
    for experiment_id, assigned in users.groupby("experiment_id", sort=True):
        design = registry.get(experiment_id)
        experiment = _Experiment(experiment_id, design, assigned, config)
        if design is not None and design.unit != "user":
            decisions.append(experiment.unit_mismatch())
            continue
        results += experiment.results()
        decision = experiment.decision(last_loaded)
        decisions.append(decision)
        notices += experiment.notices(decision)
        if design is not None:
            analysed[experiment_id] = experiment
    return Analysis(
        pd.DataFrame(results, columns=RESULT_COLUMNS),
        pd.DataFrame(decisions, columns=DECISION_COLUMNS),
        pd.DataFrame(_interactions(analysed, config), columns=INTERACTION_COLUMNS),
        notices,
    )


class _Experiment:
    def __init__(
        self,
        experiment_id: str,
        design: RegisteredExperiment | None,
        assigned: pd.DataFrame,
        config: AbTestConfig,
    ):
        self.id, self.design, self.config = experiment_id, design, config
        if design is None:
            variants = sorted(assigned["variant_id"].unique())
            self.shares = {variant: math.nan for variant in variants}
            self.control = "control" if "control" in variants else variants[0]
            self.metrics = UNREGISTERED_METRICS
        else:
            self.shares = dict(sorted(design.variants.items()))
            self.control = design.control
            self.metrics = design.metrics()
        self.counts = assigned.groupby("variant_id").size().reindex(self.shares, fill_value=0)
        # Bots count for the sample-ratio test (they were assigned) but measure nothing.
        self.humans = assigned[~assigned["is_bot"].astype(bool)]
        self.humans = self.humans[self.humans["variant_id"].isin(self.shares)]
        self.user_ids = set(self.humans["user_id"])
        self.srm_p_value = None
        if design is not None:
            self.srm_p_value = st.sample_ratio_p_value(
                self.counts.to_numpy(), np.array(list(self.shares.values()))
            )
        self.srm_flag = self.srm_p_value is not None and self.srm_p_value < config.srm_alpha
        revenue = self.humans["revenue"]
        self.revenue_cap = (
            float(np.percentile(revenue, config.revenue_cap_percentile)) if len(revenue) else 0.0
        )
        self.treatments = [v for v in self.shares if v != self.control]
        self.rows: list[dict] = []

    @property
    def sequential(self) -> bool:
        return self.design is not None and self.design.analysis == "sequential"

    # --- results ------------------------------------------------------------------------------
    def sample(self, metric: ExperimentMetric, variant: str | None = None) -> st.Sample:
        """The humans of a variant (all of them when None) with a value of the metric."""
        users = (
            self.humans if variant is None else self.humans[self.humans["variant_id"] == variant]
        )
        users = users[users[metric.column].notna()]
        values = users[metric.column].astype(float).to_numpy()
        if metric.capped:
            values = np.minimum(values, self.revenue_cap)
        return st.Sample(
            values,
            users[metric.denominator].astype(float).to_numpy() if metric.denominator else None,
            users[metric.covariate].astype(float).to_numpy() if metric.covariate else None,
        )

    def results(self) -> list[dict]:
        config = self.config
        for name, role in self.metrics:
            metric = EXPERIMENT_METRICS[name]
            everyone = self.sample(metric)
            theta = centre = None
            if metric.covariate and len(everyone) > 2:
                theta = st.cuped_theta(everyone.values, everyone.covariates)
                centre = float(everyone.covariates.mean())
            control = self.sample(metric, self.control)
            for variant, share in self.shares.items():
                group = self.sample(metric, variant)
                row = self._row(metric, role, variant, share, group)
                if variant != self.control:
                    fixed = st.compare(metric, group, control, config.confidence)
                    read = fixed
                    if self.sequential:
                        read = st.sequential(
                            metric, group, control, self.design.minimum_detectable_effect,
                            config.alpha,
                        )  # fmt: skip
                    row |= {
                        "lift": read.lift,
                        "ci_low": read.ci_low,
                        "ci_high": read.ci_high,
                        "p_value": read.p_value,
                    }
                    if theta is not None:
                        adjusted = st.cuped(group, control, theta, centre, config.confidence)
                        row |= {
                            "cuped_lift": adjusted.comparison.lift,
                            "cuped_ci_low": adjusted.comparison.ci_low,
                            "cuped_ci_high": adjusted.comparison.ci_high,
                            "cuped_p_value": adjusted.comparison.p_value,
                            "variance_reduction": adjusted.variance_reduction,
                        }
                self.rows.append(row)
        # Corrected within each role: the primary's comparisons, the secondaries', the guardrails'.
        for role in ("primary", "secondary", "guardrail"):
            rows = [r for r in self.rows if r["metric_role"] == role and not r["is_control"]]
            adjusted = st.adjust([r["p_value"] for r in rows], config.correction)
            for row, p in zip(rows, adjusted, strict=True):
                row["adjusted_p_value"] = p
                row["is_significant"] = p is not None and p < config.alpha
        return self.rows

    def _row(self, metric, role, variant, share, group: st.Sample) -> dict:
        return {
            "experiment_id": self.id,
            "registered": self.design is not None,
            "analysis": self.design.analysis if self.design else "fixed",
            "metric": metric.name,
            "metric_role": role,
            "metric_kind": metric.kind,
            "variant_id": variant,
            "is_control": variant == self.control,
            "assigned_users": int(self.counts[variant]),
            "intended_share": None if math.isnan(share) else share,
            "users": len(group),
            "value": group.value(),
            "revenue_cap": self.revenue_cap if metric.capped else None,
            "srm_p_value": self.srm_p_value,
            "srm_flag": self.srm_flag,
            "is_significant": False,
        }

    # --- decision -----------------------------------------------------------------------------
    def smallest_variant(self) -> int:
        """Human users of the variant that has the fewest."""
        sizes = self.humans.groupby("variant_id").size()
        return int(sizes.reindex(list(self.shares), fill_value=0).min())

    def _compared(self, role: str) -> list[dict]:
        return [r for r in self.rows if r["metric_role"] == role and not r["is_control"]]

    def decision(self, last_loaded: date) -> dict:
        design, smallest = self.design, self.smallest_variant()
        row = {
            "experiment_id": self.id,
            "registered": design is not None,
            "users_per_variant": smallest,
            "srm_p_value": self.srm_p_value,
            "srm_flag": self.srm_flag,
        }
        if design is None:
            reason = "Not in experiments.yml: no hypothesis, no primary metric."
            return row | {"decision_reason": reason}
        row |= self._design_columns() | self._plan(last_loaded, smallest)
        breached = [
            f"{r['metric']} ({r['variant_id']} {r['lift']:+.1%})"
            for r in self._compared("guardrail")
            if r["p_value"] is not None
            and r["p_value"] < self.config.alpha
            and _is_worse(r["metric"], r["lift"])
        ]
        row["guardrails_breached"] = ", ".join(breached) or None
        primary = [r for r in self._compared("primary") if r["is_significant"]]
        better = [r for r in primary if not _is_worse(r["metric"], r["lift"])]
        metric = design.primary_metric
        if self.srm_flag:
            decision = "invalid (SRM)"
            reason = (
                f"Assignments do not fit the intended split (SRM p = {self.srm_p_value:.2g}): "
                "the lifts cannot be trusted; fix the assignment and restart."
            )
        elif breached:
            decision, reason = (
                "guardrail breached",
                f"Significantly worse: {row['guardrails_breached']}.",
            )
        elif not row["planned_sample_reached"] and not (self.sequential and primary):
            decision = "keep running"
            reason = (
                f"{row['users_per_variant']:,} of the {row['required_users_per_variant'] or 0:,} "
                "users per variant planned."
            )
        elif better:
            best = max(better, key=lambda r: abs(r["lift"]))
            row["best_variant"] = best["variant_id"]
            decision = "ship"
            reason = (
                f"{best['variant_id']} is significantly better on {metric} "
                f"({best['lift']:+.1%}, adjusted p = {best['adjusted_p_value']:.2g})."
            )
        elif primary:
            decision, reason = "don't ship", f"The variants that differ on {metric} are worse."
        else:
            decision, reason = "inconclusive", f"No variant differs significantly on {metric}."
        return row | {"decision": decision, "decision_reason": reason}

    def _design_columns(self) -> dict:
        design = self.design
        return {
            "hypothesis": design.hypothesis.strip(),
            "owner": design.owner,
            "unit": design.unit,
            "start_date": design.start,
            "planned_end_date": design.planned_end,
            "analysis": design.analysis,
            "primary_metric": design.primary_metric,
        }

    def _plan(self, last_loaded: date, smallest: int) -> dict:
        """The planned sample per variant, the progress toward it, and the days still needed at
        the traffic since the experiment started."""
        design, config = self.design, self.config
        metric = EXPERIMENT_METRICS[design.primary_metric]
        comparisons = max(1, len(self.treatments))
        required = st.required_sample_per_variant(
            metric,
            design.baseline,
            design.minimum_detectable_effect,
            config.alpha / comparisons,  # Bonferroni: the plan holds under any correction
            config.power,
            st.linearised_standard_deviation(metric, self.sample(metric)),
        )
        first_assigned = self.humans["assigned_date"].min() if len(self.humans) else None
        started = design.start
        if pd.notna(first_assigned):
            started = max(started, pd.Timestamp(first_assigned).date())
        days_running = max(1, (last_loaded - started).days + 1)
        daily = smallest / days_running
        reached = required is not None and smallest >= required
        days_needed = None
        if required is not None and not reached and daily > 0:
            days_needed = math.ceil((required - smallest) / daily)
        return {
            "required_users_per_variant": required,
            "progress": smallest / required if required else None,
            "planned_sample_reached": reached,
            "daily_users_per_variant": daily,
            "days_needed": 0 if reached else days_needed,
        }

    def unit_mismatch(self) -> dict:
        reason = (
            f"Registered with unit '{self.design.unit}', but its assignments are by user "
            "(Firestore uid): not analysed until device-level assignments are landed."
        )
        return {"experiment_id": self.id, "registered": True, "decision_reason": reason} | (
            self._design_columns()
        )

    # --- notices ------------------------------------------------------------------------------
    def notices(self, decision: dict) -> list[Notice]:
        if self.design is None:
            return []
        found = []
        if decision["planned_sample_reached"]:
            text = (
                f":checkered_flag: *{self.id}* reached its planned sample "
                f"({decision['users_per_variant']:,} users in its smallest variant, "
                f"{decision['required_users_per_variant']:,} planned). "
                f"Decision: *{decision['decision']}*. {decision['decision_reason']}"
            )
            found.append(Notice(self.id, "planned_sample", text))
        if self.srm_flag:
            assigned = ", ".join(f"{v} {n:,}" for v, n in self.counts.items())
            intended = ", ".join(f"{v} {s:.0%}" for v, s in self.shares.items())
            text = (
                f":warning: *{self.id}*: sample-ratio mismatch (p = {self.srm_p_value:.2g}): "
                f"assigned {assigned} for an intended {intended}. Its results are invalid."
            )
            found.append(Notice(self.id, "srm", text))
        if decision["guardrails_breached"]:
            text = (
                f":no_entry: *{self.id}*: guardrail breached: "
                f"{decision['guardrails_breached']}. Owner: {self.design.owner}."
            )
            found.append(Notice(self.id, "guardrail", text))
        return found


def _is_worse(metric: str, lift: float) -> bool:
    return (lift < 0) == EXPERIMENT_METRICS[metric].higher_is_better


def _interactions(experiments: dict[str, _Experiment], config: AbTestConfig) -> list[dict]:
    """Each pair of registered experiments that share users, on each one's primary metric."""
    rows = []
    for first, second in combinations(sorted(experiments), 2):
        a, b = experiments[first], experiments[second]
        if a.user_ids.isdisjoint(b.user_ids):
            continue
        both = a.humans.merge(
            b.humans[["user_id", "variant_id"]], on="user_id", suffixes=("", "_other")
        )
        for name in dict.fromkeys([a.design.primary_metric, b.design.primary_metric]):
            metric = EXPERIMENT_METRICS[name]
            if metric.kind == "ratio":
                continue
            measured = both[both[metric.column].notna()]
            values = measured[metric.column].astype(float).to_numpy()
            if metric.capped:
                values = np.minimum(values, a.revenue_cap)
            p_value = st.interaction_p_value(
                values,
                _codes(measured["variant_id"], a),
                _codes(measured["variant_id_other"], b),
            )
            rows.append(
                {
                    "experiment_id": first,
                    "other_experiment_id": second,
                    "metric": name,
                    "overlapping_users": len(measured),
                    "p_value": p_value,
                }
            )
    adjusted = st.adjust([row["p_value"] for row in rows], "holm")
    for row, p in zip(rows, adjusted, strict=True):
        row["adjusted_p_value"] = p
        row["interacts"] = p is not None and p < config.interaction_alpha
    return rows


def _codes(variants: pd.Series, experiment: _Experiment) -> np.ndarray:
    """0 for control, 1.. for the other variants."""
    order = {experiment.control: 0} | {v: i for i, v in enumerate(experiment.treatments, 1)}
    return variants.map(order).to_numpy()
