"""The experiment assets: the registry landed in the warehouse, and the analysis of every
experiment (results per metric, a decision each, interactions between overlapping ones)."""

from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from calback_platform.experiments.metrics import user_columns
from calback_platform.experiments.registry import ExperimentRegistry
from calback_platform.warehouse.base import Warehouse

AB_TEST_USERS = dg.AssetKey(["marts", "ab_test_users"])
LOADED_DAYS = dg.AssetKey(["intermediate", "int_loaded_days"])
EXPERIMENTS = dg.AssetKey(["marts", "experiments"])
EXPERIMENT_VARIANTS = dg.AssetKey(["marts", "experiment_variants"])
AB_TEST_RESULTS = "marts.ab_test_results"
AB_TEST_DECISIONS = "marts.ab_test_decisions"
AB_TEST_INTERACTIONS = "marts.ab_test_interactions"
AB_TEST_DECISIONS_KEY = dg.AssetKey(["marts", "ab_test_decisions"])
# The metadata entry of ab_test_decisions that lists what Slack is to hear (sensors/experiments).
NOTICES = "notices"


class AbTestConfig(dg.Config):
    """The parameters of the analysis (experiments.analysis), set per run; their defaults and
    meaning are written here only."""

    revenue_cap_percentile: float = Field(
        default=99.0, description="Per-user revenue above this percentile is capped (whales)."
    )
    confidence: float = Field(
        default=0.95, description="Confidence level of the intervals; 1 - it is the alpha."
    )
    srm_alpha: float = Field(
        default=0.001, description="srm_flag is set when the SRM chi-square p-value is below this."
    )
    correction: Literal["holm", "fdr_bh"] = Field(
        default="holm",
        description="Multiple-comparison correction: Holm (family-wise) or Benjamini-Hochberg.",
    )
    power: float = Field(default=0.8, description="Power the planned sample is sized for.")
    interaction_alpha: float = Field(
        default=0.05,
        description="Two experiments interact when the Holm-corrected p-value is below this.",
    )

    @property
    def alpha(self) -> float:
        """The significance level of every test and interval."""
        return 1 - self.confidence


def build_experiment_registry_asset(
    registry: ExperimentRegistry, pool: str | None
) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                EXPERIMENTS,
                group_name="marts",
                kinds={"python", "yaml"},
                description=(
                    "The experiment registry (experiments.yml), one row per experiment: "
                    "hypothesis, owner, unit, planned dates, metrics, MDE and baseline."
                ),
            ),
            dg.AssetSpec(
                EXPERIMENT_VARIANTS,
                group_name="marts",
                kinds={"python", "yaml"},
                description="Each registered experiment's variants and intended split.",
            ),
        ],
        pool=pool,
        # An edit of experiments.yml is a new code version: the UI marks these stale.
        code_version=registry.version,
    )
    def experiment_registry(context: dg.AssetExecutionContext, warehouse: Warehouse):
        experiments = pd.DataFrame(
            [
                {
                    "experiment_id": e.id,
                    "hypothesis": e.hypothesis.strip(),
                    "owner": e.owner,
                    "unit": e.unit,
                    "start_date": e.start,
                    "planned_end_date": e.planned_end,
                    "primary_metric": e.primary_metric,
                    "secondary_metrics": ", ".join(e.secondary_metrics),
                    "guardrail_metrics": ", ".join(e.guardrail_metrics),
                    "minimum_detectable_effect": e.minimum_detectable_effect,
                    "baseline": e.baseline,
                    "analysis": e.analysis,
                }
                for e in registry.experiments
            ]
        )
        variants = pd.DataFrame(
            [
                {
                    "experiment_id": e.id,
                    "variant_id": variant,
                    "intended_share": share,
                    "is_control": variant == e.control,
                }
                for e in registry.experiments
                for variant, share in e.variants.items()
            ]
        )
        for key, table, frame in (
            (EXPERIMENTS, "marts.experiments", experiments),
            (EXPERIMENT_VARIANTS, "marts.experiment_variants", variants),
        ):
            rows = warehouse.replace_table(table, frame)
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/row_count": rows,
                    "preview": dg.MetadataValue.md(frame.to_markdown(index=False)),
                },
            )

    return experiment_registry


def _analysis_output(key, description: str) -> dg.AssetSpec:
    # Each reads the assignments with outcomes, the registry and the last loaded day.
    return dg.AssetSpec(
        key,
        deps=[AB_TEST_USERS, EXPERIMENTS, EXPERIMENT_VARIANTS, LOADED_DAYS],
        group_name="marts",
        kinds={"python", "duckdb"},
        description=description,
    )


def build_ab_test_results_asset(
    registry: ExperimentRegistry, pool: str | None
) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            _analysis_output(
                ["marts", "ab_test_results"],
                (
                    "Per experiment, metric (its role: primary, secondary, guardrail) and "
                    "variant: users, value, the relative lift vs control with its confidence "
                    "interval and p-value (two-proportion test for rates, Welch's t-test for "
                    "means, delta method for ratios; always-valid mSPRT for a sequential "
                    "experiment), the p-value corrected within its role, CUPED's adjusted "
                    "lift and variance reduction, and the SRM test. Bots excluded from every "
                    "metric but counted for SRM; revenue capped at a percentile."
                ),
            ),
            _analysis_output(
                AB_TEST_DECISIONS_KEY,
                (
                    "One row per experiment with assignments: its design, the planned sample "
                    "per variant, progress and days still needed at current traffic, guardrails "
                    "breached, and the decision (keep running, ship, don't ship, inconclusive, "
                    "invalid (SRM), guardrail breached) with its reason."
                ),
            ),
            _analysis_output(
                ["marts", "ab_test_interactions"],
                (
                    "Per pair of registered experiments sharing users and each one's primary "
                    "metric: the p-value of their interaction (Poisson GLM, Holm-corrected "
                    "over all pairs) and whether they interact."
                ),
            ),
        ],
        pool=pool,
        code_version=registry.version,
    )
    def ab_test_analysis(
        context: dg.AssetExecutionContext, config: AbTestConfig, warehouse: Warehouse
    ):
        # scipy and statsmodels take a second to import: not on every definitions load
        from calback_platform.experiments.analysis import analyse

        columns = ", ".join(["is_bot", *user_columns()])
        users = warehouse.query_frame(
            # Ordered, so sums (and so every figure) come out the same to the last bit.
            f"select {columns} from marts.ab_test_users order by experiment_id, user_id"
        )
        ((last_loaded,),) = warehouse.query(
            "select max(loaded_date) from intermediate.int_loaded_days"
        )
        analysis = analyse(users, registry, config, last_loaded)
        for decision in analysis.decisions.itertuples():
            context.log.info(
                f"{decision.experiment_id}: {decision.decision or 'no decision'} "
                f"({decision.decision_reason})"
            )
        results = analysis.results
        yield dg.MaterializeResult(
            asset_key=["marts", "ab_test_results"],
            metadata={
                "dagster/row_count": warehouse.replace_table(AB_TEST_RESULTS, results),
                "primary_results": dg.MetadataValue.md(
                    results[results["metric_role"] == "primary"].to_markdown(
                        index=False, floatfmt=".4g"
                    )
                ),
            },
        )
        decisions = analysis.decisions
        yield dg.MaterializeResult(
            asset_key=AB_TEST_DECISIONS_KEY,
            metadata={
                "dagster/row_count": warehouse.replace_table(AB_TEST_DECISIONS, decisions),
                "decisions": dg.MetadataValue.md(
                    decisions[["experiment_id", "decision", "decision_reason"]].to_markdown(
                        index=False
                    )
                ),
                NOTICES: dg.MetadataValue.json([notice.__dict__ for notice in analysis.notices]),
            },
        )
        interactions = analysis.interactions
        interacting = interactions[interactions["interacts"]]
        if len(interacting):
            context.log.warning(
                "Experiments interact: "
                + "; ".join(
                    f"{r.experiment_id} x {r.other_experiment_id} on {r.metric}"
                    for r in interacting.itertuples()
                )
            )
        yield dg.MaterializeResult(
            asset_key=["marts", "ab_test_interactions"],
            metadata={
                "dagster/row_count": warehouse.replace_table(AB_TEST_INTERACTIONS, interactions),
                "interactions": dg.MetadataValue.md(
                    interactions.to_markdown(index=False, floatfmt=".3g")
                ),
            },
        )

    return ab_test_analysis


def notices_of(metadata: dict) -> list[dict]:
    """The notices a materialization of ab_test_decisions lists."""
    entry = metadata.get(NOTICES)
    return list(entry.value) if entry is not None else []
