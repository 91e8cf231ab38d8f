"""Where revisit models live: the warehouse table `ml.revisit_models`, one row per model
trained, with its version, windows, holdout figures and the pickled model, and one row marked
current: the model that scores. Only the gate (the check revisit_model_not_worse_than_current)
makes a model current (`save(current=True)`), so a worse model is kept for inspection but never
scores.

The models live beside the data they were trained on, in DuckDB or BigQuery alike, and the
warehouse's backups cover them. A pickle is code: this table is as trusted as the warehouse.
"""

from __future__ import annotations

import pickle
from datetime import datetime

import pandas as pd

from calback_platform.revisit.model import RevisitModel
from calback_platform.warehouse.base import Warehouse

MODELS_TABLE = "ml.revisit_models"
# Models kept besides the current one: older candidates are dropped when a model is saved.
KEEP_MODELS = 20


def _models(warehouse: Warehouse) -> pd.DataFrame:
    if not warehouse.has_table(MODELS_TABLE):
        return pd.DataFrame()
    models = warehouse.query_frame(f"select * from {MODELS_TABLE} order by trained_at")
    for window in [column for column in models if column.endswith("_signup")]:
        models[window] = pd.to_datetime(models[window]).dt.date  # DATE, written back as DATE
    return models


def save(warehouse: Warehouse, model: RevisitModel, row: dict, current: bool) -> None:
    """Keep `model` with `row`'s figures, as the current model if the gate let it in (the
    same version trained again keeps its standing), in one write of the table."""
    models = _models(warehouse)
    if len(models):
        same = models["model_version"] == model.version
        current = current or bool(models.loc[same, "is_current"].any())
        models = models[~same]
        if current:
            models["is_current"] = False
        old = models[~models["is_current"]].iloc[: max(0, len(models) - KEEP_MODELS)]
        models = models.drop(old.index)
    new = pd.DataFrame(
        [
            {
                "model_version": model.version,
                "kind": model.kind,
                "trained_at": pd.Timestamp(datetime.now().astimezone()),
                **model.windows,
                **row,
                "is_current": current,
                "model": pickle.dumps(model),
            }
        ]
    )
    warehouse.replace_table(MODELS_TABLE, pd.concat([models, new], ignore_index=True))


def current(warehouse: Warehouse) -> RevisitModel | None:
    """The model that scores; None before the gate let one in."""
    models = _models(warehouse)
    if not len(models) or not models["is_current"].any():
        return None
    return pickle.loads(models[models["is_current"]].iloc[-1]["model"])
