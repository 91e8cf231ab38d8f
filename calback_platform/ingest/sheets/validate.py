"""The ad spend sheet's layout and the rules a row must meet to land (pure Python).

The marketer's sheet has one header row, then one row per day and channel (or per day and
source/medium/campaign): `date, channel, source, medium, campaign, spend, currency,
impressions, clicks`. A row that breaks a rule is quarantined with its sheet row number (the
header is row 1, as the marketer sees it) and the reason; nothing is corrected on the way in.
What is normalised, and only that: a currency code is upper-cased and trimmed, a channel takes
the spelling of `channel_rules.csv`, text cells that are blank become NULL.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from calback_platform.settings import DBT_PROJECT_DIR

COLUMNS = (
    "date",
    "channel",
    "source",
    "medium",
    "campaign",
    "spend",
    "currency",
    "impressions",
    "clicks",
)
REQUIRED = ("date", "spend", "currency")
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
# Day 0 of Sheets' date serial numbers (as in Excel, after its 1900 leap-year bug).
SHEETS_EPOCH = date(1899, 12, 30)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Digits with an optional sign and decimals. Thousands separators and currency symbols are
# refused, not stripped: "1,200" is 1200 in one locale and 1.2 in another.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_INTEGER = re.compile(r"[+-]?\d+")


class SheetLayoutError(ValueError):
    """The sheet cannot be read as the ad spend layout (no header, a required column missing)."""


class Rejected(ValueError):
    """A cell's value cannot land; the message is the reason given in the quarantine."""


@dataclass(frozen=True)
class KnownValues:
    """What the warehouse can use: currencies with a rate, channels dbt knows."""

    currencies: frozenset[str]
    # Lower-cased channel -> its spelling in channel_rules.csv.
    channels: dict[str, str] = field(hash=False)

    @classmethod
    def from_seeds(cls, seeds_dir: Path = SEEDS_DIR) -> KnownValues:
        currencies = _seed_column(seeds_dir / "currency_rates.csv", "currency")
        channels = _seed_column(seeds_dir / "channel_rules.csv", "channel")
        return cls(
            currencies=frozenset(currencies),
            channels={channel.casefold(): channel for channel in channels},
        )


def _seed_column(path: Path, column: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as lines:
        return [row[column] for row in csv.DictReader(lines) if row[column]]


@dataclass(frozen=True)
class SpendRow:
    sheet_row: int
    spend_date: date
    channel: str | None
    source: str | None
    medium: str | None
    campaign: str | None
    spend: float
    currency: str
    impressions: int | None
    clicks: int | None


@dataclass(frozen=True)
class QuarantinedRow:
    sheet_row: int
    row_values: list
    reason: str


@dataclass
class Validated:
    rows: list[SpendRow] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)


def column_positions(header: Sequence) -> dict[str, int]:
    """Where each known column is in the header (matched trimmed and case-insensitively;
    columns the layout does not know are ignored)."""
    names = [str(cell).strip().lower() for cell in header]
    positions = {name: names.index(name) for name in COLUMNS if name in names}
    twice = sorted(name for name in positions if names.count(name) > 1)
    missing = [name for name in REQUIRED if name not in positions]
    if "channel" not in positions and not {"source", "medium"} <= positions.keys():
        missing.append("channel (or both source and medium)")
    if twice or missing:
        problems = [f"column {name!r} appears more than once" for name in twice]
        if missing:
            problems.append(f"no column {', '.join(missing)}")
        raise SheetLayoutError(
            f"{'; '.join(problems)} in the header row {[str(cell) for cell in header]}. "
            f"Expected the columns {', '.join(COLUMNS)} (impressions, clicks and campaign "
            "optional; channel may be left out when source and medium are there)."
        )
    return positions


def validate(rows: Sequence[Sequence], known: KnownValues) -> Validated:
    """Every data row of the sheet (`rows[0]` is the header) as a row to land or a quarantined
    row. Blank rows are skipped."""
    if not rows or _is_blank_row(rows[0]):
        raise SheetLayoutError("the sheet is empty: row 1 must be the header row")
    positions = column_positions(rows[0])
    validated = Validated()
    for number, cells in enumerate(rows[1:], start=2):
        if _is_blank_row(cells):
            continue
        values = {name: _cell(cells, position) for name, position in positions.items()}
        row, problems = _check(number, values, known)
        if problems:
            validated.quarantined.append(QuarantinedRow(number, list(cells), "; ".join(problems)))
        else:
            validated.rows.append(row)
    return validated


def _check(number: int, values: dict, known: KnownValues) -> tuple[SpendRow | None, list[str]]:
    problems: list[str] = []

    def checked(parse, *args):
        try:
            return parse(*args)
        except Rejected as rejected:
            problems.append(str(rejected))
            return None

    source, medium = _text(values.get("source")), _text(values.get("medium"))
    row = SpendRow(
        sheet_row=number,
        spend_date=checked(parse_date, values.get("date")),
        channel=checked(parse_channel, values.get("channel"), source, medium, known),
        source=source,
        medium=medium,
        campaign=_text(values.get("campaign")),
        spend=checked(parse_spend, values.get("spend")),
        currency=checked(parse_currency, values.get("currency"), known),
        impressions=checked(parse_count, values.get("impressions"), "impressions"),
        clicks=checked(parse_count, values.get("clicks"), "clicks"),
    )
    return (None, problems) if problems else (row, [])


def parse_date(value: object) -> date:
    """An ISO date (`YYYY-MM-DD`), or a whole Sheets serial number when a number arrives."""
    if value is None:
        raise Rejected("missing date")
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    elif _is_number(value) and float(value).is_integer() and value > 0:
        try:
            return SHEETS_EPOCH + timedelta(days=int(value))
        except OverflowError:
            pass
    raise Rejected("unparsable date (expected YYYY-MM-DD)")


def parse_spend(value: object) -> float:
    if value is None:
        raise Rejected("missing spend")
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    if not _is_number(value):
        raise Rejected("non-numeric spend (digits only: no thousands separators or symbols)")
    if value < 0:
        raise Rejected("negative spend")
    return float(value)


def parse_currency(value: object, known: KnownValues) -> str:
    if value is None:
        raise Rejected("missing currency")
    code = str(value).strip().upper()
    if code not in known.currencies:
        raise Rejected("unknown currency (not in seeds/currency_rates.csv)")
    return code


def parse_channel(
    value: object, source: str | None, medium: str | None, known: KnownValues
) -> str | None:
    """The channel in its seed spelling; none when source and medium let dbt derive it."""
    if value is None:
        if source is None or medium is None:
            raise Rejected("neither channel nor source and medium")
        return None
    channel = known.channels.get(str(value).strip().casefold())
    if channel is None:
        raise Rejected("unknown channel (not in seeds/channel_rules.csv)")
    return channel


def parse_count(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    if _is_number(value) and float(value).is_integer():
        return int(value)
    raise Rejected(f"non-integer {name}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_blank_row(cells: Sequence) -> bool:
    return all(_is_blank(cell) for cell in cells)


def _cell(cells: Sequence, position: int) -> object:
    """The cell's value, None when blank (the API leaves trailing blank cells out)."""
    value = cells[position] if position < len(cells) else None
    return None if _is_blank(value) else value


def _text(value: object) -> str | None:
    """A text cell as typed (a number typed into it comes as a number)."""
    return None if value is None else str(value)
