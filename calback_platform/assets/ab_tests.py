"""`marts.ab_test_results`: per experiment and variant, the statistics the product team reads."""

import dagster as dg
from pydantic import Field

from calback_platform.warehouse.base import Warehouse

AB_TEST_USERS = dg.AssetKey(["marts", "ab_test_users"])
EXPERIMENT_VARIANTS = dg.AssetKey(["marts", "experiment_variants"])
AB_TEST_RESULTS = "marts.ab_test_results"


class AbTestConfig(dg.Config):
    """The parameters of the statistics (ab_statistics.experiment_results), set per run."""

    revenue_cap_percentile: float = Field(
        default=99.0, description="Per-user revenue above this percentile is capped (whales)."
    )
    confidence: float = Field(default=0.95, description="Confidence level of the intervals.")
    srm_alpha: float = Field(
        default=0.001, description="srm_flag is set when the SRM chi-square p-value is below this."
    )


def build_ab_test_results_asset(pool: str | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=["marts", "ab_test_results"],
        deps=[AB_TEST_USERS, EXPERIMENT_VARIANTS],
        group_name="marts",
        pool=pool,
        kinds={"python", "duckdb"},
        description=(
            "Per experiment and variant: users, conversion_rate, revenue_per_user (capped at a "
            "percentile), lift_vs_control with p_value and ci_low/ci_high (two-proportion z-test, "
            "ratio interval), the same for revenue (Welch's t-test), and srm_p_value / srm_flag "
            "(chi-square of assignments vs the intended split in experiment_variants). Every "
            "experiment with assignments gets rows; one not in experiment_variants is flagged "
            "registered = false and has no SRM test. Bots are excluded from every metric but "
            "counted for the SRM test."
        ),
    )
    def ab_test_results(
        context: dg.AssetExecutionContext, config: AbTestConfig, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        # scipy and statsmodels take half a second to import: not on every definitions load
        from calback_platform.ab_statistics import experiment_results

        users = warehouse.query_frame(
            # Ordered, so sums (and so every figure) come out the same to the last bit.
            "select experiment_id, variant_id, is_bot, is_converted, revenue "
            "from marts.ab_test_users order by experiment_id, user_id"
        )
        variants = warehouse.query_frame("select * from marts.experiment_variants")
        results = experiment_results(users, variants, config)
        rows = warehouse.replace_table(AB_TEST_RESULTS, results)
        flagged = sorted(set(results.loc[results["srm_flag"], "experiment_id"]))
        if flagged:
            context.log.warning(f"Sample-ratio mismatch in {flagged}: do not trust their lifts")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "srm_flagged_experiments": dg.MetadataValue.json(flagged),
                "results": dg.MetadataValue.md(results.to_markdown(index=False, floatfmt=".4g")),
            }
        )

    return ab_test_results
