"""The experiment registry (`experiments.yml`): each experiment's design, written down before it
starts. Loading validates every entry; an invalid one stops the code location from loading with
a message that names it, so no result is ever read against a design nobody wrote.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from calback_platform.experiments.metrics import EXPERIMENT_METRICS

SPLIT_TOLERANCE = 1e-6


class ExperimentRegistryError(ValueError):
    """The registry file is unreadable or an entry is invalid; the message names it."""


class RegisteredExperiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    hypothesis: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    unit: Literal["user", "device"]
    # variant -> intended share of the units; the shares sum to 1
    variants: dict[str, float]
    control: str = "control"
    start: date
    planned_end: date
    primary_metric: str
    secondary_metrics: list[str] = []
    guardrail_metrics: list[str] = []
    # The smallest relative change of the primary metric worth detecting (0.1 = 10%), and the
    # primary metric's expected value in control: together they size the experiment.
    minimum_detectable_effect: float = Field(gt=0)
    baseline: float = Field(gt=0)
    # "sequential": results stay valid however often they are read (always-valid p-values),
    # so a clear result may stop the experiment before its planned sample.
    analysis: Literal["fixed", "sequential"] = "fixed"

    @model_validator(mode="after")
    def _consistent(self) -> RegisteredExperiment:
        problems = []
        if len(self.variants) < 2:
            problems.append("needs at least two variants")
        if any(share <= 0 for share in self.variants.values()):
            problems.append("every variant's share must be above 0")
        total = sum(self.variants.values())
        if abs(total - 1) > SPLIT_TOLERANCE:
            problems.append(f"the variants' shares sum to {total:g}, not 1")
        if self.control not in self.variants:
            problems.append(f"control '{self.control}' is not one of its variants")
        if self.planned_end <= self.start:
            problems.append(f"planned_end {self.planned_end} is not after start {self.start}")
        named = self.metrics()
        unknown = sorted({name for name, _ in named} - set(EXPERIMENT_METRICS))
        if unknown:
            known = ", ".join(sorted(EXPERIMENT_METRICS))
            problems.append(f"unknown metric(s) {', '.join(unknown)} (known: {known})")
        repeated = sorted({n for n, _ in named if sum(1 for m, _ in named if m == n) > 1})
        if repeated:
            problems.append(f"metric(s) {', '.join(repeated)} listed more than once")
        primary = EXPERIMENT_METRICS.get(self.primary_metric)
        if primary and primary.kind == "proportion" and not self.baseline < 1:
            problems.append(f"baseline {self.baseline:g} of a rate must be below 1")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def metrics(self) -> list[tuple[str, str]]:
        """(metric, role) of every metric it names: primary, secondary, guardrail."""
        return [
            (self.primary_metric, "primary"),
            *((name, "secondary") for name in self.secondary_metrics),
            *((name, "guardrail") for name in self.guardrail_metrics),
        ]


class ExperimentRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    experiments: list[RegisteredExperiment]
    version: str = ""  # a digest of the file, so Dagster sees an edit as a new code version

    def get(self, experiment_id: str) -> RegisteredExperiment | None:
        return next((e for e in self.experiments if e.id == experiment_id), None)


def load_registry(path: Path) -> ExperimentRegistry:
    try:
        text = path.read_text()
        document = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ExperimentRegistryError(
            f"Cannot read the experiment registry {path}: {error}"
        ) from None
    entries = document.get("experiments") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ExperimentRegistryError(f"{path}: expected a list under 'experiments:'")
    experiments, seen = [], set()
    for number, entry in enumerate(entries, start=1):
        name = entry.get("id") if isinstance(entry, dict) else None
        label = f"experiment '{name}'" if name else f"experiment #{number}"
        try:
            experiment = RegisteredExperiment.model_validate(entry)
        except ValidationError as error:
            problems = "; ".join(_problem(detail) for detail in error.errors())
            raise ExperimentRegistryError(f"{path}: {label} is invalid: {problems}") from None
        if experiment.id in seen:
            raise ExperimentRegistryError(f"{path}: {label} is registered twice")
        seen.add(experiment.id)
        experiments.append(experiment)
    return ExperimentRegistry(
        experiments=experiments, version=hashlib.sha256(text.encode()).hexdigest()[:12]
    )


def _problem(detail: dict) -> str:
    where = ".".join(str(part) for part in detail["loc"])
    message = detail["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
