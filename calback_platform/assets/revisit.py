"""The revisit model's assets: training and evaluating it (with the gate that decides whether
it may score), and the daily scores of the users inside their label window.

scikit-learn takes a second to import: it is imported when an asset runs, not when the
definitions load. (No `from __future__ import annotations`: Dagster reads the config class
from the signature.)
"""

from datetime import timedelta

import dagster as dg
import pandas as pd
import pyarrow as pa
from pydantic import Field

from calback_platform.partitions import window_dates
from calback_platform.revisit import FIGURES
from calback_platform.warehouse.base import Warehouse, typed_frame

REVISIT_FEATURES = dg.AssetKey(["marts", "revisit_features"])
REVISIT_MODEL = dg.AssetKey(["ml", "revisit_model"])
REVISIT_EVALUATION = dg.AssetKey(["marts", "revisit_model_evaluation"])
REVISIT_IMPORTANCES = dg.AssetKey(["marts", "revisit_feature_importances"])
USER_REVISIT_SCORES = dg.AssetKey(["marts", "user_revisit_scores"])
FCT_EVENTS = dg.AssetKey(["marts", "fct_events"])
MODEL_GATE = "revisit_model_not_worse_than_current"
FEATURE_DRIFT = "revisit_features_do_not_drift"
# An input drifts at a population stability index of 0.25 (the usual reading), judged once at
# least MIN_DRIFT_USERS users are scored.
DRIFT_PSI, MIN_DRIFT_USERS = 0.25, 100
# The tables' columns: written typed, so each exists with its types before any model does.
EVALUATION_TABLE = "marts.revisit_model_evaluation"
EVALUATION_SCHEMA = pa.schema(
    [("model_version", pa.string()), ("scorer", pa.string())]
    + [(figure, pa.float64()) for figure in FIGURES]
    + [("holdout_users", pa.int64()), ("base_rate", pa.float64()), ("is_current", pa.bool_())]
)
IMPORTANCES_TABLE = "marts.revisit_feature_importances"
IMPORTANCES_SCHEMA = pa.schema(
    [("model_version", pa.string()), ("feature", pa.string())]
    + [(name, pa.float64()) for name in ("importance", "ci_low", "ci_high")]
)
SCORES_TABLE = "marts.user_revisit_scores"
SCORES_SCHEMA = pa.schema(
    [
        ("score_date", pa.date32()),
        ("user_id", pa.string()),
        ("signup_date", pa.date32()),
        ("days_since_signup", pa.int64()),
        ("revisit_score", pa.float64()),
        ("model_version", pa.string()),
        ("top_reasons", pa.string()),
    ]
)


class RevisitModelConfig(dg.Config):
    """How the revisit model is trained and gated; the defaults and their meaning are here."""

    holdout_days: int = Field(
        default=21,
        description="The last sign-up days with a known label are the holdout: never trained on.",
    )
    min_users: int = Field(
        default=100,
        description="Fewer labelled users in the training or the holdout cohorts: no model yet.",
    )
    auc_tolerance: float = Field(
        default=0.02,
        description=(
            "The new model replaces the current one unless its holdout ROC AUC is lower than "
            "the current model's on the same holdout by more than this."
        ),
    )
    importance_resamples: int = Field(
        default=30, description="Bootstrap samples of the holdout for the importances' intervals."
    )
    seed: int = Field(
        default=0, description="Seeds training and the importances: same data, same model."
    )


def build_revisit_model_asset(pool: str | None) -> dg.AssetsDefinition:
    def output(key: dg.AssetKey, description: str, kinds: set[str]) -> dg.AssetSpec:
        return dg.AssetSpec(
            key, deps=[REVISIT_FEATURES], group_name="ml", kinds=kinds, description=description
        )

    @dg.multi_asset(
        specs=[
            output(
                REVISIT_MODEL,
                "The revisit model: a gradient-boosted classifier (scikit-learn) of whether a new "
                "user becomes a frequent visitor in days 8-35, from their first week. Trained on "
                "the sign-up cohorts before the holdout's, kept in ml.revisit_models with its "
                "version, code version and windows; it scores once the gate lets it.",
                {"python", "scikitlearn"},
            ),
            output(
                REVISIT_EVALUATION,
                "The latest model, the logistic regression baseline and the naive rule (came "
                "back in the first week) on the holdout cohorts: ROC AUC, PR AUC, Brier score, "
                "top-decile lift.",
                {"python"},
            ),
            output(
                REVISIT_IMPORTANCES,
                "Which first-week behaviours predict a return: each input's permutation "
                "importance (holdout ROC AUC lost when it is shuffled), with a bootstrap 95% "
                "interval.",
                {"python"},
            ),
        ],
        check_specs=[
            dg.AssetCheckSpec(
                MODEL_GATE,
                asset=REVISIT_MODEL,
                blocking=True,
                description=(
                    "The new model's holdout ROC AUC is not below the current model's on the same "
                    "holdout by more than auc_tolerance. Passing makes it the current model; "
                    "failing keeps the current one and writes no scores."
                ),
            )
        ],
        pool=pool,
        can_subset=False,
    )
    def revisit_model(
        context: dg.AssetExecutionContext, config: RevisitModelConfig, warehouse: Warehouse
    ):
        from calback_platform.revisit import store
        from calback_platform.revisit.features import LABEL, read_features
        from calback_platform.revisit.training import CODE_VERSION, NotEnoughData, train

        labelled = read_features(warehouse, f"{LABEL} is not null")
        try:
            trained = train(
                labelled,
                config.holdout_days,
                config.min_users,
                config.seed,
                config.importance_resamples,
            )
        except NotEnoughData as reason:
            # A young instance: no model yet, which is no failure; the tables exist, empty.
            context.log.warning(f"No revisit model trained yet: {reason}.")
            yield dg.MaterializeResult(
                asset_key=REVISIT_MODEL, metadata={"trained": False, "why_not": str(reason)}
            )
            yield dg.AssetCheckResult(
                check_name=MODEL_GATE,
                asset_key=REVISIT_MODEL,
                passed=True,
                metadata={"model_version": "(none: no model trained)"},
            )
            yield from _tables(warehouse, pd.DataFrame(), pd.DataFrame())
            return
        model, split, figures = trained.model, trained.split, trained.figures
        ours = trained.model_figures
        context.log.info(
            f"Trained {model.version} on {len(split.train)} users ({split.windows}); holdout "
            + ", ".join(f"{r.scorer} AUC {r.roc_auc:.3f}" for r in figures.itertuples())
        )
        current = store.current(warehouse)
        gate = _gate(model, current, split.holdout, ours["roc_auc"], config.auc_tolerance)
        store.save(
            warehouse,
            model,
            {
                "code_version": CODE_VERSION,
                "train_users": len(split.train),
                "holdout_users": len(split.holdout),
                "roc_auc": ours["roc_auc"],
                "auc_tolerance": config.auc_tolerance,
            },
            current=gate.passed,
        )
        figures = figures.assign(is_current=gate.passed)
        yield dg.MaterializeResult(
            asset_key=REVISIT_MODEL,
            metadata={
                "model_version": model.version,
                "code_version": CODE_VERSION,
                **{name: str(day) for name, day in split.windows.items()},
                "train_users": len(split.train),
                "holdout_users": len(split.holdout),
                "base_rate": float(figures["base_rate"].iloc[0]),
                **ours,
                "against_baseline_and_naive_rule": _markdown(figures, ".3f"),
                "calibration": _markdown(trained.calibration, ".3f"),
                "importances": _markdown(trained.importances, ".4f"),
                "models_table": store.MODELS_TABLE,
            },
        )
        yield gate
        yield from _tables(warehouse, figures, trained.importances)

    return revisit_model


def _tables(warehouse: Warehouse, figures: pd.DataFrame, importances: pd.DataFrame):
    """The evaluation and the importances written (empty ones when no model was trained)."""
    for key, table, schema, frame in (
        (REVISIT_EVALUATION, EVALUATION_TABLE, EVALUATION_SCHEMA, figures),
        (REVISIT_IMPORTANCES, IMPORTANCES_TABLE, IMPORTANCES_SCHEMA, importances),
    ):
        frame = frame.reindex(columns=schema.names)
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "dagster/row_count": warehouse.replace_table(table, typed_frame(frame, schema)),
                "preview": dg.MetadataValue.md(frame.to_markdown(index=False, floatfmt=".4g")),
            },
        )


def _markdown(frame: pd.DataFrame, floats: str) -> dg.MetadataValue:
    """A table for the metadata; floats formatted by column, so integers stay integers."""
    frame = frame.drop(columns="model_version", errors="ignore")
    shown = frame.assign(
        **{
            column: frame[column].map(f"{{:{floats}}}".format)
            for column in frame.select_dtypes("float").columns
        }
    )
    return dg.MetadataValue.md(shown.to_markdown(index=False, disable_numparse=True))


def _gate(
    model, current, holdout: pd.DataFrame, auc: float, tolerance: float
) -> dg.AssetCheckResult:
    """Whether `model` may replace the `current` one (None: there is none), both scoring the
    same holdout."""
    from sklearn.metrics import roc_auc_score

    from calback_platform.revisit.features import LABEL

    current_auc = None
    if current is not None and current.version != model.version:
        current_auc = float(roc_auc_score(holdout[LABEL].astype(bool), current.score(holdout)))
    passed = current_auc is None or auc >= current_auc - tolerance
    return dg.AssetCheckResult(
        check_name=MODEL_GATE,
        asset_key=REVISIT_MODEL,
        passed=passed,
        metadata={
            "model_version": model.version,
            "holdout_roc_auc": auc,
            "current_version": current.version if current else "(none)",
            "current_holdout_roc_auc": current_auc if current_auc is not None else float("nan"),
            "auc_tolerance": tolerance,
            "current_now": model.version if passed else current.version,
        },
    )


def build_revisit_scores_asset(
    partitions_def: dg.PartitionsDefinition, pool: str | None
) -> dg.AssetsDefinition:
    @dg.asset(
        key=USER_REVISIT_SCORES,
        # A day is scored once its events are in: the edge also puts the scores in a backfill
        # launched from the UI, which follows partitioned assets only (DailyLineageTranslator).
        deps=[REVISIT_FEATURES, REVISIT_MODEL, FCT_EVENTS],
        group_name="ml",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=pool,
        kinds={"python", "scikitlearn"},
        description=(
            "Per day, each user inside their label window (days 8-35 after sign-up) with the "
            "current revisit model's score: the probability of becoming a frequent visitor by "
            "day 35, the model version, and the top reasons (the inputs that move the score "
            "most from a typical user's)."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                FEATURE_DRIFT,
                asset=USER_REVISIT_SCORES,
                description=(
                    "The scored users' first-week behaviours, platform and channel are spread as "
                    "the training users' were: population stability index below "
                    f"{DRIFT_PSI} for each, judged from {MIN_DRIFT_USERS} scored users. "
                    "Experiments are left out: they start and end by design."
                ),
            )
        ],
    )
    def user_revisit_scores(context: dg.AssetExecutionContext, warehouse: Warehouse):
        from calback_platform.revisit import store
        from calback_platform.revisit.features import LABEL_DAYS, read_features

        first, end = window_dates(context)
        last = end - timedelta(days=1)
        model = store.current(warehouse)
        if model is None:  # a young instance: ml/revisit_model says why there is none yet
            context.log.warning("No current revisit model yet: no scores for the window.")
            rows = warehouse.replace_rows(
                SCORES_TABLE, typed_frame(pd.DataFrame(), SCORES_SCHEMA), "score_date", first, last
            )
            yield dg.MaterializeResult(
                metadata={"dagster/row_count": rows, "model_version": "(none)"}
            )
            yield dg.AssetCheckResult(check_name=FEATURE_DRIFT, passed=True)
            return
        users = read_features(
            warehouse,
            f"signup_date between '{first - timedelta(days=LABEL_DAYS[1])}' "
            f"and '{last - timedelta(days=LABEL_DAYS[0])}'",
        )
        users["revisit_score"] = model.score(users) if len(users) else []
        users["top_reasons"] = model.reasons(users) if len(users) else []
        days = pd.DataFrame({"score_date": pd.date_range(first, last).date})
        scores = users.merge(days, how="cross")
        scores["days_since_signup"] = [
            (scored - signup).days
            for scored, signup in zip(scores["score_date"], scores["signup_date"], strict=True)
        ]
        scores = scores[scores["days_since_signup"].between(*LABEL_DAYS)]
        scores = scores.assign(model_version=model.version).sort_values(
            ["score_date", "revisit_score"], ascending=[True, False]
        )
        rows = warehouse.replace_rows(
            SCORES_TABLE, typed_frame(scores, SCORES_SCHEMA), "score_date", first, last
        )
        context.log.info(
            f"Scored {users.shape[0]} users on {len(days)} day(s) with {model.version}"
        )
        # Fewer scored users than this make the index noise: no judgement then.
        drift = model.drift(users) if len(users) >= MIN_DRIFT_USERS else {}
        drifting = {name: round(psi, 3) for name, psi in drift.items() if psi >= DRIFT_PSI}
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "users": len(users),
                "model_version": model.version,
                "mean_score": float(users["revisit_score"].mean()) if len(users) else float("nan"),
                "preview": dg.MetadataValue.md(
                    scores[SCORES_SCHEMA.names].head(10).to_markdown(index=False)
                ),
            }
        )
        yield dg.AssetCheckResult(
            check_name=FEATURE_DRIFT,
            passed=not drifting,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "population_stability": dg.MetadataValue.json(
                    {name: round(psi, 4) for name, psi in drift.items()}
                ),
                "drifting": dg.MetadataValue.json(drifting),
                "scored_users": len(users),
                "judged": len(users) >= MIN_DRIFT_USERS,
            },
        )

    return user_revisit_scores
