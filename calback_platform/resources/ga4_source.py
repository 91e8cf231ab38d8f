"""Where a day's GA4 / Firebase Analytics export lives (DESIGN section 4.2)."""

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
