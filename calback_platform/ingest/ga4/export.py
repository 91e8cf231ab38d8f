"""Where a day's GA4 / Firebase Analytics export lives: files locally (as the demo generator
writes them, or as copied from a real export), the export dataset in BigQuery in prod. Each
warehouse's loader reads the kind of export next to it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg


class LocalGA4Export(dg.ConfigurableResource):
    """`<source_dir>/ga4/events_YYYYMMDD.jsonl`, and `events_intraday_YYYYMMDD.jsonl` if any."""

    source_dir: str

    def day_files(self, day: date) -> list[Path]:
        """The export files of one day; a day with neither file has not arrived: that fails."""
        directory = Path(self.source_dir) / "ga4"
        files = [
            path
            for path in (
                directory / f"events_{day:%Y%m%d}.jsonl",
                directory / f"events_intraday_{day:%Y%m%d}.jsonl",
            )
            if path.is_file()
        ]
        if not files:
            raise dg.Failure(
                f"The GA4 export for {day} has not arrived: no events_{day:%Y%m%d}.jsonl "
                f"(or events_intraday_) in {directory}."
            )
        return files


class BigQueryGA4Export(dg.ConfigurableResource):
    """The dataset GA4 exports to: `events_YYYYMMDD`, and `events_intraday_` until that lands."""

    project: str
    dataset: str  # e.g. analytics_327848427

    def day_tables(self, days: list[date], existing: set[str]) -> dict[date, str]:
        """Each day's table among `existing` (the dataset's table names): the daily table, else
        the intraday one GA4 replaces it with; a day with neither has not arrived: that fails."""
        tables = {}
        for day in days:
            for name in (f"events_{day:%Y%m%d}", f"events_intraday_{day:%Y%m%d}"):
                if name in existing:
                    tables[day] = name
                    break
            else:
                raise dg.Failure(
                    f"The GA4 export for {day} has not arrived: no events_{day:%Y%m%d} "
                    f"(or events_intraday_) in {self.project}.{self.dataset}."
                )
        return tables
