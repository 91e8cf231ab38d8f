"""A trained revisit model: the fitted pipeline with what scoring and explaining need, the
experiments it knows, the typical user its reasons are measured against, and the profile of
its training population that feature drift is measured against."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from calback_platform.revisit.features import COUNTS, VARIANT_PREFIX, model_inputs

# Deciles of a count (fewer edges when values repeat) or shares of a category.
Profile = dict[str, dict[str, list]]


@dataclass
class RevisitModel:
    kind: str
    pipeline: Pipeline
    experiments: list[str]
    # The training rows' median count and most common category, input by input.
    typical: dict[str, object]
    training_profile: Profile
    version: str = ""
    windows: dict[str, date] = field(default_factory=dict)

    def inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        return model_inputs(frame, self.experiments)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """The probability that each user of `frame` becomes a frequent visitor."""
        return self.pipeline.predict_proba(self.inputs(frame))[:, 1]

    def drift(self, frame: pd.DataFrame) -> dict[str, float]:
        """The population stability index of each input between the training users and the
        users of `frame`; experiments are left out, as they start and end by design."""
        compared = {
            name: spread
            for name, spread in self.training_profile.items()
            if not name.startswith(VARIANT_PREFIX)
        }
        return population_stability(compared, self.inputs(frame))

    def reasons(self, frame: pd.DataFrame, top: int = 3) -> list[str]:
        """Per user, the `top` inputs that move their score most from what it would be with
        the typical user's value, e.g. 'meetings_confirmed=2 (+0.21)'."""
        inputs = self.inputs(frame)
        scores = self.pipeline.predict_proba(inputs)[:, 1]
        shifts = {}
        for column, typical in self.typical.items():
            if not (inputs[column] == typical).all():
                as_typical = inputs.assign(**{column: typical})
                shifts[column] = scores - self.pipeline.predict_proba(as_typical)[:, 1]
        if not shifts:
            return [""] * len(inputs)
        names = list(shifts)
        moves = np.column_stack([shifts[name] for name in names])
        order = np.argsort(-np.abs(moves), axis=1, kind="stable")[:, :top]
        return [
            "; ".join(
                f"{names[j]}={_shown(inputs[names[j]].iloc[i])} ({moves[i, j]:+.2f})"
                for j in order[i]
                if abs(moves[i, j]) >= 0.005
            )
            for i in range(len(inputs))
        ]


def profile(inputs: pd.DataFrame) -> Profile:
    """How a population's inputs are spread: each count's decile edges and the share of users
    between them, each category's shares."""
    result: Profile = {}
    for column in inputs:
        if column in COUNTS:
            edges = np.unique(np.quantile(inputs[column], np.linspace(0, 1, 11)[1:-1]))
            result[column] = {
                "edges": edges.tolist(),
                "shares": _shares_between(inputs[column], edges),
            }
        else:
            shares = inputs[column].value_counts(normalize=True)
            result[column] = {"values": shares.index.tolist(), "shares": shares.tolist()}
    return result


def population_stability(training: Profile, inputs: pd.DataFrame) -> dict[str, float]:
    """The population stability index of each input between the training population and
    `inputs`: sum of (share - training share) * ln(share / training share) over the training
    deciles or categories; above 0.25 is commonly read as a shift."""
    psi = {}
    for column, spread in training.items():
        if column not in inputs:
            continue
        if "edges" in spread:
            now = _shares_between(inputs[column], np.array(spread["edges"]))
        else:
            shares = inputs[column].value_counts(normalize=True)
            now = [float(shares.get(value, 0.0)) for value in spread["values"]]
        then = np.clip(np.array(spread["shares"]), 1e-4, None)
        now = np.clip(np.array(now), 1e-4, None)
        psi[column] = float(np.sum((now - then) * np.log(now / then)))
    return psi


def _shares_between(values: pd.Series, edges: np.ndarray) -> list[float]:
    bins = np.searchsorted(edges, values.to_numpy(), side="right")
    return (np.bincount(bins, minlength=len(edges) + 1) / max(len(values), 1)).tolist()


def _shown(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
