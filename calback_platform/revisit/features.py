"""What the revisit model sees of a user: the rows of `marts.revisit_features` (dbt) made into
model inputs, the label, and the naive rule the model must beat.

The windows are dbt's (vars revisit_feature_days, revisit_label_days): a user is scored on the
days of their label window, once their first week is over.
"""

from __future__ import annotations

import pandas as pd

from calback_platform.settings import dbt_project_yml
from calback_platform.warehouse.base import Warehouse

FEATURES_TABLE = "marts.revisit_features"
LABEL = "became_frequent"
# What the user did in their first week, counted (dbt columns).
COUNTS = (
    "sessions",
    "meetings_created",
    "meetings_confirmed",
    "invites_sent",
    "invites_accepted",
    "votes",
    "recommendation_clicks",
    "engaged_seconds",
    "return_days_first_week",
)
CATEGORIES = ("platform", "acquisition_channel")
# One input per experiment: the user's variant in it, or this when not assigned in week one.
NOT_ASSIGNED = "(none)"
VARIANT_PREFIX = "variant:"

_VARS = dbt_project_yml()["vars"]
FEATURE_DAYS: int = _VARS["revisit_feature_days"]
# The days since sign-up the label counts visits on, first and last.
LABEL_DAYS: tuple[int, int] = (FEATURE_DAYS, FEATURE_DAYS + _VARS["revisit_label_days"] - 1)


def read_features(warehouse: Warehouse, where: str) -> pd.DataFrame:
    """The users of the features table matching `where`, in user order (so training sees the
    same rows in the same order), sign-up days as dates on either warehouse."""
    frame = warehouse.query_frame(f"select * from {FEATURES_TABLE} where {where} order by user_id")
    frame["signup_date"] = pd.to_datetime(frame["signup_date"]).dt.date
    return frame


def experiments_in(frame: pd.DataFrame) -> list[str]:
    """The experiments some user of `frame` was assigned to in their first week."""
    return sorted({e for cell in frame["experiment_variants"] for e in _variants(cell)})


def model_inputs(frame: pd.DataFrame, experiments: list[str]) -> pd.DataFrame:
    """The model's input columns for the users of `frame`: the counts, the categories, and
    each of `experiments`' variant (a model knows the experiments it was trained with)."""
    inputs = frame[list(COUNTS)].astype(float)
    for column in CATEGORIES:
        inputs[column] = frame[column].fillna("(unknown)").astype(str)
    variants = [_variants(cell) for cell in frame["experiment_variants"]]
    for experiment in experiments:
        inputs[VARIANT_PREFIX + experiment] = [v.get(experiment, NOT_ASSIGNED) for v in variants]
    return inputs


def came_back_in_first_week(frame: pd.DataFrame) -> pd.Series:
    """The naive rule: a user who visited again within the first week will keep coming."""
    return frame["return_days_first_week"] > 0


def _variants(cell: str | None) -> dict[str, str]:
    """'exp_a:control,exp_b:test' as {experiment: variant}."""
    return dict(item.split(":", 1) for item in (cell or "").split(",") if item)
