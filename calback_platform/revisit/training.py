"""Training the revisit model: a time-based split by sign-up cohort, a logistic regression
baseline and the gradient-boosted model, each a scikit-learn pipeline over the same inputs.

Seeded and fed rows in a fixed order, training the same data twice gives the same model, and
the same version (a digest of the code version, the parameters and the training rows).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from calback_platform.revisit import FIGURES
from calback_platform.revisit.evaluation import (
    calibration_table,
    permutation_importances,
    scores_summary,
)
from calback_platform.revisit.features import (
    COUNTS,
    LABEL,
    came_back_in_first_week,
    experiments_in,
    model_inputs,
)
from calback_platform.revisit.model import RevisitModel, profile

# The training code's version: change it when a change here changes what a model learns.
CODE_VERSION = "revisit-1"
# The model, its baseline, and the naive rule both are compared with, as the evaluation names them.
MODEL, BASELINE, NAIVE_RULE = "gradient_boosting", "logistic_regression", "came_back_in_first_week"


class NotEnoughData(ValueError):
    """Too few labelled users (or one outcome only) on one side of the split to learn from."""


@dataclass(frozen=True)
class Split:
    """Labelled users cut by sign-up day: those before `holdout_first` train, the rest
    evaluate (never a random split: the model is used on later cohorts)."""

    train: pd.DataFrame
    holdout: pd.DataFrame

    @property
    def windows(self) -> dict[str, date]:
        return {
            "train_first_signup": self.train["signup_date"].min(),
            "train_last_signup": self.train["signup_date"].max(),
            "holdout_first_signup": self.holdout["signup_date"].min(),
            "holdout_last_signup": self.holdout["signup_date"].max(),
        }


def time_split(labelled: pd.DataFrame, holdout_days: int, min_users: int) -> Split:
    """The last `holdout_days` sign-up days with a known label are the holdout."""
    if labelled.empty:
        raise NotEnoughData("no user's label window is loaded yet")
    first_holdout = labelled["signup_date"].max() - timedelta(days=holdout_days - 1)
    is_holdout = labelled["signup_date"] >= first_holdout
    split = Split(train=labelled[~is_holdout], holdout=labelled[is_holdout])
    for name, part in (("training", split.train), ("holdout", split.holdout)):
        outcomes = part[LABEL].value_counts()
        if len(part) < min_users or len(outcomes) < 2:
            raise NotEnoughData(
                f"the {name} cohorts have {len(part)} labelled users "
                f"({dict(outcomes)}); at least {min_users} with both outcomes are needed"
            )
    return split


def _prepare(categories: list[str], scale_counts: bool) -> ColumnTransformer:
    # Counts are skewed: the linear model sees log(1 + count), standardised; trees need neither.
    counts = (
        make_pipeline(
            FunctionTransformer(np.log1p, feature_names_out="one-to-one"), StandardScaler()
        )
        if scale_counts
        else "passthrough"
    )
    return ColumnTransformer(
        [
            ("counts", counts, list(COUNTS)),
            ("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categories),
        ]
    )


@dataclass(frozen=True)
class TrainingParameters:
    """The gradient boosting's: shallow trees (depth 2 learns effects of one input and of pairs,
    e.g. a behaviour that matters on one platform), slowly, as a few thousand users support."""

    seed: int
    learning_rate: float = 0.05
    rounds: int = 200
    max_depth: int = 2
    min_samples_leaf: int = 30
    l2_regularization: float = 1.0


def build_pipelines(categories: list[str], parameters: TrainingParameters) -> dict[str, Pipeline]:
    """The baseline and the model, unfitted."""
    return {
        "logistic_regression": Pipeline(
            [
                ("prepare", _prepare(categories, scale_counts=True)),
                ("classify", LogisticRegression(max_iter=2000)),
            ]
        ),
        "gradient_boosting": Pipeline(
            [
                ("prepare", _prepare(categories, scale_counts=False)),
                (
                    "classify",
                    HistGradientBoostingClassifier(
                        learning_rate=parameters.learning_rate,
                        max_iter=parameters.rounds,
                        max_depth=parameters.max_depth,
                        min_samples_leaf=parameters.min_samples_leaf,
                        l2_regularization=parameters.l2_regularization,
                        early_stopping=False,
                        random_state=parameters.seed,
                    ),
                ),
            ]
        ),
    }


def fit(kind: str, train: pd.DataFrame, parameters: TrainingParameters) -> RevisitModel:
    """Fit the pipeline `kind` on the training users."""
    train = train.sort_values("user_id", kind="stable")  # the same rows in the same order
    experiments = experiments_in(train)
    inputs = model_inputs(train, experiments)
    categories = [column for column in inputs if column not in COUNTS]
    pipeline = build_pipelines(categories, parameters)[kind]
    pipeline.fit(inputs, train[LABEL].astype(bool))
    typical = {c: float(inputs[c].median()) for c in COUNTS} | {
        c: inputs[c].mode().iloc[0] for c in categories
    }
    return RevisitModel(kind, pipeline, experiments, typical, profile(inputs))


def version_of(split: Split, parameters: TrainingParameters, kind: str) -> str:
    """A short digest of what determines the model: code, parameters, the training rows."""
    digest = hashlib.sha256(f"{CODE_VERSION}|{parameters}|{kind}".encode())
    rows = split.train.sort_values("user_id", kind="stable")
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Trained:
    """A trained model and how it did on the holdout: per scorer (the model, the baseline, the
    naive rule) its figures; the model's calibration table and input importances."""

    model: RevisitModel
    split: Split
    figures: pd.DataFrame
    calibration: pd.DataFrame
    importances: pd.DataFrame

    @property
    def model_figures(self) -> dict[str, float]:
        return self.figures.set_index("scorer").loc[MODEL, list(FIGURES)].astype(float).to_dict()


def train(
    labelled: pd.DataFrame,
    holdout_days: int,
    min_users: int,
    seed: int,
    importance_resamples: int,
) -> Trained:
    """Split the labelled users by time, fit the model and the baseline on the earlier
    cohorts, and evaluate both, and the naive rule, on the holdout."""
    split = time_split(labelled, holdout_days, min_users)
    parameters = TrainingParameters(seed=seed)
    models = {kind: fit(kind, split.train, parameters) for kind in (MODEL, BASELINE)}
    model = models[MODEL]
    model.version, model.windows = version_of(split, parameters, MODEL), split.windows
    label = split.holdout[LABEL].to_numpy(bool)
    scores = {kind: fitted.score(split.holdout) for kind, fitted in models.items()}
    # The naive rule's score: the share of its group's training users who came back.
    rates = split.train[LABEL].astype(float).groupby(came_back_in_first_week(split.train)).mean()
    scores[NAIVE_RULE] = came_back_in_first_week(split.holdout).map(rates).to_numpy(float)
    figures = pd.DataFrame(
        [
            {"model_version": model.version, "scorer": scorer, **scores_summary(label, score)}
            for scorer, score in scores.items()
        ]
    ).assign(holdout_users=len(label), base_rate=float(label.mean()))
    importances = permutation_importances(model, split.holdout, label, seed, importance_resamples)
    importances.insert(0, "model_version", model.version)
    return Trained(model, split, figures, calibration_table(label, scores[MODEL]), importances)
