"""The marketer's ad spend sheet, landed whole in `raw_sheets.ad_spend` on every run."""

import json
from collections import Counter, defaultdict
from dataclasses import asdict
from datetime import datetime, timezone

import dagster as dg
import pandas as pd
import pyarrow as pa
from pydantic import Field

from calback_platform.ingest.sheets.source import AdSpendSheet
from calback_platform.ingest.sheets.validate import (
    KnownValues,
    SheetLayoutError,
    Validated,
    validate,
)
from calback_platform.warehouse.base import Warehouse

AD_SPEND = dg.AssetKey(["raw_sheets", "ad_spend"])
TABLE = "raw_sheets.ad_spend"
QUARANTINE = "raw_sheets.ad_spend_quarantine"
LOADED_AT = ("_loaded_at", pa.timestamp("us", tz="UTC"))
# Arrow schemas, so both warehouses get these column types even when a column is all NULL or
# the table is empty (pandas would guess object columns).
SPEND_SCHEMA = pa.schema(
    [
        ("sheet_row", pa.int64()),
        ("spend_date", pa.date32()),
        ("channel", pa.string()),
        ("source", pa.string()),
        ("medium", pa.string()),
        ("campaign", pa.string()),
        ("spend", pa.float64()),
        ("currency", pa.string()),
        ("impressions", pa.int64()),
        ("clicks", pa.int64()),
        LOADED_AT,
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [("sheet_row", pa.int64()), ("row_values", pa.string()), ("reason", pa.string()), LOADED_AT]
)


def frames(validated: Validated, loaded_at: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows to land and the quarantined rows (their cells as JSON), typed."""
    rows = [{**asdict(row), "_loaded_at": loaded_at} for row in validated.rows]
    quarantined = [
        {
            "sheet_row": row.sheet_row,
            "row_values": json.dumps(row.row_values, ensure_ascii=False, default=str),
            "reason": row.reason,
            "_loaded_at": loaded_at,
        }
        for row in validated.quarantined
    ]
    return _frame(rows, SPEND_SCHEMA), _frame(quarantined, QUARANTINE_SCHEMA)


def _frame(rows: list[dict], schema: pa.Schema) -> pd.DataFrame:
    return pa.Table.from_pylist(rows, schema=schema).to_pandas(types_mapper=pd.ArrowDtype)


class AdSpendLoadConfig(dg.Config):
    allow_empty_sheet: bool = Field(
        default=False,
        description=(
            "Land a sheet that has its header and no rows. Off: such a sheet (emptied by "
            "mistake, or the wrong tab) fails the run and the spend landed before stays."
        ),
    )


def build_ad_spend_asset(pool: str | None, warehouse_kind: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=AD_SPEND,
        group_name="raw_sheets",
        pool=pool,
        kinds={"googlesheets", warehouse_kind},
        description=(
            f"The marketer's ad spend sheet (a row per day and channel or source/medium/"
            f"campaign), re-read whole on every run and replacing {TABLE}; rows that break a "
            f"rule (date, spend, currency, channel, counts) go to {QUARANTINE} with their "
            "sheet row number and reason."
        ),
    )
    def ad_spend(
        context: dg.AssetExecutionContext,
        config: AdSpendLoadConfig,
        ad_spend_sheet: AdSpendSheet,
        warehouse: Warehouse,
    ) -> dg.MaterializeResult:
        context.log.info(f"Reading {ad_spend_sheet.describe()}")
        cells = ad_spend_sheet.read_rows()
        try:
            validated = validate(cells, KnownValues.from_seeds())
        except SheetLayoutError as error:
            raise dg.Failure(f"{ad_spend_sheet.describe()}: {error}") from error
        if not validated.rows and not validated.quarantined and not config.allow_empty_sheet:
            raise dg.Failure(
                f"{ad_spend_sheet.describe()} has no rows below its header: nothing replaced. "
                "If the sheet is empty on purpose, materialize with allow_empty_sheet: true."
            )
        for row in validated.quarantined[:20]:
            context.log.warning(f"Sheet row {row.sheet_row} quarantined: {row.reason}")
        # Everything is read and judged before anything is replaced.
        landed, quarantined = frames(validated, datetime.now(timezone.utc))
        warehouse.replace_table(TABLE, landed)
        warehouse.replace_table(QUARANTINE, quarantined)
        context.log.info(
            f"{len(landed)} rows landed in {TABLE}, {len(quarantined)} quarantined in {QUARANTINE}"
        )
        return dg.MaterializeResult(metadata=_metadata(validated, warehouse))

    return ad_spend


def _metadata(validated: Validated, warehouse: Warehouse) -> dict:
    spend: dict[str, float] = defaultdict(float)
    for row in validated.rows:
        spend[row.currency] += row.spend
    days = sorted({row.spend_date for row in validated.rows})
    return {
        "rows": len(validated.rows),
        "quarantined": len(validated.quarantined),
        "quarantine_reasons": dg.MetadataValue.json(
            dict(Counter(row.reason for row in validated.quarantined))
        ),
        "spend_per_currency": dg.MetadataValue.json(
            {currency: round(total, 2) for currency, total in sorted(spend.items())}
        ),
        "date_range": dg.MetadataValue.json(
            {"first": days[0].isoformat(), "last": days[-1].isoformat()} if days else {}
        ),
        "dagster/row_count": len(validated.rows),
        "preview": warehouse.preview(
            # The day as text: a DATE would show as a midnight timestamp.
            "select sheet_row, cast(spend_date as string) as spend_date, channel, source, medium, "
            "campaign, spend, currency, "
            f"impressions, clicks from {TABLE} order by sheet_row limit 5"
        ),
    }
