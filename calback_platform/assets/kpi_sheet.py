"""The weekly KPIs written back to the Google sheet the team reads (KPI_SHEET_ID)."""

import dagster as dg
import pandas as pd

from calback_platform.ingest.sheets.google_sheets import GoogleSheet
from calback_platform.warehouse.base import Warehouse

WEEKLY_KPIS = dg.AssetKey(["marts", "weekly_kpis"])
KPI_TAB = "weekly_kpis"


def build_kpi_sheet_asset(pool: str | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=["sheets", "weekly_kpis"],
        deps=[WEEKLY_KPIS],
        group_name="sheets",
        pool=pool,
        kinds={"googlesheets"},
        description=(
            f"marts.weekly_kpis (the week's KPIs and acquisition) written to the tab "
            f"{KPI_TAB!r} of the KPI Google sheet, which it replaces whole on every run; the "
            "sheet's other tabs are left alone."
        ),
    )
    def weekly_kpis_sheet(
        context: dg.AssetExecutionContext, kpi_sheet: GoogleSheet, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        frame = warehouse.query_frame("select * from marts.weekly_kpis order by week_start")
        # A DATE may come back as a midnight timestamp: the sheet shows the day.
        frame["week_start"] = pd.to_datetime(frame["week_start"]).dt.date
        context.log.info(f"Writing {len(frame)} weeks to tab {KPI_TAB!r} of {kpi_sheet.sheet_id}")
        rows = kpi_sheet.replace_tab(KPI_TAB, frame)
        return dg.MaterializeResult(
            metadata={
                "weeks": rows,
                "tab": KPI_TAB,
                "sheet": dg.MetadataValue.url(
                    f"https://docs.google.com/spreadsheets/d/{kpi_sheet.sheet_id}/edit"
                ),
                "last_week": str(frame["week_start"].max()) if rows else "",
            }
        )

    return weekly_kpis_sheet
