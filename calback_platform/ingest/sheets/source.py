"""Where the ad spend rows come from: the marketer's Google sheet, or a CSV file in its layout.

A source hands over the raw cells, header included, and parses nothing: validate.py judges
every row the same way whatever the source.
"""

from __future__ import annotations

import csv
from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg


class AdSpendSheet(dg.ConfigurableResource, ABC):
    @abstractmethod
    def describe(self) -> str:
        """What is read, for logs and errors."""

    @abstractmethod
    def read_rows(self) -> list[list]:
        """Every row of the sheet as raw cell values, the header row first."""


class LocalAdSpendFile(AdSpendSheet):
    """A CSV file in the sheet's exact layout (locally `<source_dir>/sheets/ad_spend.csv`, which
    the demo generator writes); every cell arrives as text."""

    path: str

    def describe(self) -> str:
        return f"the ad spend file {self.path}"

    def read_rows(self) -> list[list]:
        path = Path(self.path)
        if not path.is_file():
            raise dg.Failure(
                f"No ad spend file: {path} does not exist. Run `calback generate`, point "
                "CALBACK_SOURCE_DIR at a source export, or set AD_SPEND_SHEET_ID to read the "
                "Google sheet."
            )
        # utf-8-sig: a CSV downloaded from Sheets or Excel may start with a byte-order mark.
        with path.open(encoding="utf-8-sig", newline="") as lines:
            return list(csv.reader(lines))
