"""Asset checks declared in YAML (checks.yaml): SQL with bounds, evaluated on the run's window.

A bad entry fails definition loading with a message that names it, so a typo never silently
drops a check.
"""

from datetime import date, timedelta
from pathlib import Path
from statistics import mean, pstdev
from typing import Literal

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from calback_platform.partitions import run_partition_range
from calback_platform.warehouse.base import Warehouse

CHECKS_FILE = Path(__file__).with_name("checks.yaml")
ALL_TIME = (date(1970, 1, 1), date(9999, 12, 31))


class CheckSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    asset: str
    kind: Literal["row_count", "unique", "not_null", "volume_anomaly", "schema_drift"]
    description: str | None = None
    sql: str | None = None
    ratio_of: str | None = None
    min: float | None = None
    max: float | None = None
    table: str | None = None
    columns: list[str] | None = None
    date_column: str | None = None
    lookback_days: int = 14
    max_z: float = 3.0
    blocking: bool = False
    severity: Literal["error", "warn"] = "error"

    @model_validator(mode="after")
    def _fields_for_kind(self) -> "CheckSpec":
        needed = {
            "row_count": ["sql"],
            "unique": ["table", "columns"],
            "not_null": ["table", "columns"],
            "volume_anomaly": ["table", "date_column"],
            "schema_drift": [],
        }[self.kind]
        missing = [field for field in needed if not getattr(self, field)]
        if missing:
            raise ValueError(f"kind {self.kind} needs {', '.join(missing)}")
        if self.kind == "row_count" and self.min is None and self.max is None:
            raise ValueError("kind row_count needs min or max")
        return self

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey.from_user_string(self.asset)


def load_check_specs(path: Path, known_assets: set[dg.AssetKey]) -> list[CheckSpec]:
    entries = (yaml.safe_load(path.read_text()) or {}).get("checks") or []
    specs = []
    for number, entry in enumerate(entries, start=1):
        label = f"{path.name} entry {number} ({(entry or {}).get('name', 'unnamed')})"
        try:
            spec = CheckSpec.model_validate(entry)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in error.errors()
            )
            raise dg.DagsterInvalidDefinitionError(f"{label}: {problems}") from None
        if spec.asset_key not in known_assets:
            raise dg.DagsterInvalidDefinitionError(f"{label}: no asset named {spec.asset!r}")
        if spec.name in {s.name for s in specs if s.asset == spec.asset}:
            raise dg.DagsterInvalidDefinitionError(f"{label}: a second check named {spec.name!r}")
        specs.append(spec)
    return specs


def run_window(run: dg.DagsterRun) -> tuple[date, date]:
    """The run's partition window [start, end) in days, or all time for an unpartitioned run."""
    keys = run_partition_range(run.tags)
    if not keys:
        return ALL_TIME
    return date.fromisoformat(keys[0]), date.fromisoformat(keys[1]) + timedelta(days=1)


def evaluate(
    spec: CheckSpec, warehouse: Warehouse, context: dg.AssetCheckExecutionContext
) -> dg.AssetCheckResult:
    window = run_window(context.run)
    severity = (
        dg.AssetCheckSeverity.ERROR if spec.severity == "error" else dg.AssetCheckSeverity.WARN
    )
    window_sql = {"window_start": f"'{window[0]}'", "window_end": f"'{window[1]}'"}
    metadata: dict = {"window": f"{window[0]} .. {window[1]}" if window != ALL_TIME else "all"}
    if spec.kind == "row_count":
        observed = float(warehouse.query(spec.sql.format(**window_sql))[0][0] or 0)
        if spec.ratio_of:
            base = float(warehouse.query(spec.ratio_of.format(**window_sql))[0][0] or 0)
            metadata["denominator"] = base
            observed = observed / base if base else 0.0
        passed = (spec.min is None or observed >= spec.min) and (
            spec.max is None or observed <= spec.max
        )
        metadata |= {"observed": observed, "expected": _bounds(spec)}
    elif spec.kind in ("unique", "not_null"):
        offending = _offending_rows(spec, warehouse)
        passed = not offending
        metadata |= {"observed": f"{len(offending)} offending row(s)", "expected": "none"}
        if offending:
            metadata["sample"] = dg.MetadataValue.md("\n".join(f"- {row}" for row in offending[:5]))
    elif spec.kind == "volume_anomaly":
        passed, details = _volume(spec, warehouse, window)
        metadata |= details
    else:
        passed, details = _schema_drift(spec, context)
        metadata |= details
    return dg.AssetCheckResult(
        passed=passed, severity=severity, metadata=metadata, description=spec.description
    )


def _bounds(spec: CheckSpec) -> str:
    low = "-inf" if spec.min is None else f"{spec.min:g}"
    high = "+inf" if spec.max is None else f"{spec.max:g}"
    return f"[{low}, {high}]"


def _offending_rows(spec: CheckSpec, warehouse: Warehouse) -> list[tuple]:
    columns = ", ".join(spec.columns)
    if spec.kind == "unique":
        sql = (
            f"select {columns}, count(*) as occurrences from {spec.table} "
            f"group by {columns} having count(*) > 1 limit 20"
        )
    else:
        nulls = " or ".join(f"{column} is null" for column in spec.columns)
        sql = f"select {columns} from {spec.table} where {nulls} limit 20"
    return warehouse.query(sql)


def _volume(spec: CheckSpec, warehouse: Warehouse, window: tuple[date, date]):
    """Each day of the window against the lookback days before it. Days before the table's first
    day are not history; a missing day after it counts as 0 rows. Needs half the lookback."""
    counts = dict(
        warehouse.query(f"select {spec.date_column}, count(*) from {spec.table} group by 1")
    )
    first_day = min(counts, default=None)
    days = (
        sorted(counts)
        if window == ALL_TIME
        else [window[0] + timedelta(days=n) for n in range((window[1] - window[0]).days)]
    )
    worst = {"day": None, "observed": None, "z_score": 0.0, "compared_days": 0}
    for day in days:
        history = [
            counts.get(day - timedelta(days=n), 0)
            for n in range(1, spec.lookback_days + 1)
            if first_day and day - timedelta(days=n) >= first_day
        ]
        if len(history) < max(2, spec.lookback_days // 2):
            continue  # not enough history to judge this day
        z = (counts.get(day, 0) - mean(history)) / (pstdev(history) or 1.0)
        if abs(z) >= abs(worst["z_score"]):
            worst = {
                "day": str(day),
                "observed": counts.get(day, 0),
                "z_score": round(z, 2),
                "compared_days": len(history),
            }
    return abs(worst["z_score"]) <= spec.max_z, {**worst, "expected": f"|z| <= {spec.max_z:g}"}


def _schema_drift(spec: CheckSpec, context: dg.AssetCheckExecutionContext):
    """This run's `schema` metadata against the newest one of an earlier run. A field counts as
    changed when it arrives with a type it never had; NULL alone is no type."""
    records = context.instance.fetch_materializations(spec.asset_key, limit=1000).records
    mine = [r for r in records if r.run_id == context.run.run_id]
    earlier = [r for r in records if r.run_id != context.run.run_id]
    if not mine or not earlier:
        return True, {"observed": "nothing to compare yet"}

    def schema(record) -> dict[str, set[str]]:
        raw = record.asset_materialization.metadata.get("schema")
        return {k: set(v.split("|")) - {"NULL"} for k, v in (raw.value if raw else {}).items()}

    now, before = schema(mine[0]), schema(earlier[0])
    added = sorted(set(now) - set(before))
    missing = sorted(set(before) - set(now))
    retyped = sorted(
        f"{name}: {'|'.join(sorted(before[name]))} -> {'|'.join(sorted(now[name]))}"
        for name in set(now) & set(before)
        if now[name] - before[name]
    )
    details = {
        "added": dg.MetadataValue.json(added),
        "missing": dg.MetadataValue.json(missing),
        "type_changed": dg.MetadataValue.json(retyped),
        "observed": f"{len(added)} added, {len(missing)} missing, {len(retyped)} retyped",
        "expected": "the fields of the previous materialization",
        "compared_with_run": earlier[0].run_id,
    }
    return not (added or missing or retyped), details


def build_config_checks(
    path: Path, known_assets: set[dg.AssetKey], pool: str | None
) -> list[dg.AssetChecksDefinition]:
    return [_build_check(spec, pool) for spec in load_check_specs(path, known_assets)]


def _build_check(spec: CheckSpec, pool: str | None) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=spec.asset_key,
        name=spec.name,
        blocking=spec.blocking,
        pool=pool,
        description=spec.description or f"{spec.kind} check from checks.yaml",
    )
    def config_check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        return evaluate(spec, warehouse, context)

    return config_check
