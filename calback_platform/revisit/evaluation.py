"""How good a revisit model is on the holdout cohorts: ranking (ROC AUC, PR AUC), probability
(Brier score, a calibration table), the lift of its top decile, and which inputs it relies on
(permutation importances, with bootstrap intervals)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from calback_platform.revisit import FIGURES
from calback_platform.revisit.model import RevisitModel


def scores_summary(label: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """The FIGURES of one set of scores against the true labels."""
    figures = (
        roc_auc_score(label, score),
        average_precision_score(label, score),
        brier_score_loss(label, score),
        top_decile_lift(label, score),
    )
    return {name: float(value) for name, value in zip(FIGURES, figures, strict=True)}


def top_decile_lift(label: np.ndarray, score: np.ndarray) -> float:
    """How many times the base rate the tenth of users with the highest scores become
    frequent (ties broken by order, so a coarse rule gets no credit for them)."""
    top = np.argsort(-score, kind="stable")[: max(1, len(score) // 10)]
    return float(np.mean(label[top]) / np.mean(label))


def calibration_table(label: np.ndarray, score: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Users in score deciles: the mean score against the share that became frequent."""
    frame = pd.DataFrame({"label": label.astype(float), "score": score})
    frame["decile"] = pd.qcut(frame["score"].rank(method="first"), bins, labels=False) + 1
    return (
        frame.groupby("decile")
        .agg(
            users=("label", "size"), mean_score=("score", "mean"), became_frequent=("label", "mean")
        )
        .reset_index()
    )


def permutation_importances(
    model: RevisitModel,
    holdout: pd.DataFrame,
    label: np.ndarray,
    seed: int,
    resamples: int = 30,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each input's importance: how much the holdout's ROC AUC drops when the input's values
    are shuffled among users. Each of `resamples` bootstrap samples of the holdout shuffles
    once, so the interval holds both the shuffle's and the sample's uncertainty."""
    rng = np.random.default_rng(seed)
    inputs = model.inputs(holdout).reset_index(drop=True)
    drops = []
    for _ in range(resamples):
        rows = rng.integers(0, len(inputs), len(inputs))
        if label[rows].min() == label[rows].max():
            continue  # one outcome only: no ROC AUC
        shuffled = permutation_importance(
            model.pipeline,
            inputs.iloc[rows].reset_index(drop=True),
            label[rows],
            scoring="roc_auc",
            n_repeats=1,
            random_state=int(rng.integers(2**31)),
        )
        drops.append(shuffled.importances[:, 0])
    drops = dict(zip(inputs.columns, np.array(drops).T, strict=True))
    tail = (1 - confidence) / 2 * 100
    return (
        pd.DataFrame(
            [
                {
                    "feature": column,
                    "importance": float(np.mean(values)),
                    "ci_low": float(np.percentile(values, tail)),
                    "ci_high": float(np.percentile(values, 100 - tail)),
                }
                for column, values in drops.items()
            ]
        )
        .sort_values("importance", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
