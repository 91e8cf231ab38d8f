"""What a GA4 load promises, whichever warehouse runs it: the loader interface, the figures
it reports, and the policy that tells a broken export day from a quiet one."""

from __future__ import annotations

import statistics
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg


@dataclass
class Ga4LoadStats:
    source_lines: int = 0
    rows: int = 0
    duplicates: int = 0
    quarantined: Counter = field(default_factory=Counter)
    rows_by_day: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    # Consent-mode pings: events without a device id, landed but no user's.
    cookieless_events: int = 0
    # Values at known fields that their type cannot hold (kept in events_rejected_values).
    rejected_values: int = 0
    # Top-level fields that hold what the schema does not know (kept in _unknown_fields).
    unknown_fields: set[str] = field(default_factory=set)
    # What the export looked like: every field path, event name and parameter key -> its kinds.
    schema: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ga4DayPolicy:
    """When a day's GA4 export is taken for broken: the load fails and replaces nothing, for
    a re-run once the export is fixed (or with the policy relaxed, if the day is right)."""

    # Unusable lines above this share of a day's lines.
    max_bad_share: float = 1.0
    # Usable lines below this share of the median of the days before it (RECENT_DAYS of them,
    # at least MIN_RECENT_DAYS). An empty day always fails.
    min_day_share: float = 0.0
    # Days known to be quiet (an outage): neither of the rules above on volume applies.
    expected_low_days: frozenset[date] = frozenset()

    RECENT_DAYS = 7
    MIN_RECENT_DAYS = 3

    def too_many_bad(self, lines: int, bad: int) -> bool:
        return bool(lines) and bad / lines > self.max_bad_share

    def refuse_corrupt(self, day: date, lines: int, bad: int, first_bad: tuple) -> None:
        source, line_number, reason, line = first_bad
        where = f"{Path(source).name}:{line_number}" if line_number else Path(source).name
        raise dg.Failure(
            description=(
                f"The GA4 export for {day} looks corrupt: {bad} of {lines} lines "
                f"({bad / lines:.0%}) are unusable, above the policy's {self.max_bad_share:.0%} "
                "(config max_bad_share); nothing was replaced.\n"
                f"First unusable line, {where} ({reason}):\n{line}"
            ),
            metadata={"day": day.isoformat(), "lines": lines, "unusable_lines": bad},
        )

    def check_volumes(self, usable: dict[date, int], before: dict[date, int]) -> None:
        """Each day of a window against the days before it: those of the window (`usable`,
        its usable lines) and those already landed (`before`, their events)."""
        known = before | usable
        for day in sorted(usable):
            recent = [
                known[other]
                for other in sorted(known)
                if day - timedelta(days=self.RECENT_DAYS) <= other < day
            ]
            self.check_volume(day, usable[day], recent)

    def check_volume(self, day: date, usable: int, recent: list[int]) -> None:
        """`recent`: the usable events of the days before `day`."""
        if day in self.expected_low_days:
            return
        if not usable:
            self._refuse(day, "has no events", usable)
        recent = recent[-self.RECENT_DAYS :]
        if len(recent) < self.MIN_RECENT_DAYS:
            return
        typical = statistics.median(recent)
        if usable < self.min_day_share * typical:
            self._refuse(
                day,
                f"has {usable} events, {usable / typical:.0%} of the {typical:,.0f} of a recent "
                f"day (median of the {len(recent)} days before), below the policy's "
                f"{self.min_day_share:.0%} (config min_day_share)",
                usable,
            )

    @staticmethod
    def check_whole(day: date, cut_file: str) -> None:
        raise dg.Failure(
            description=(
                f"The GA4 export for {day} looks cut short: {Path(cut_file).name} ends inside "
                "a line (its last line has no newline and is not whole JSON), as a copy or "
                "export stopped midway leaves it; nothing was replaced. Run the day again once "
                "the file is complete."
            ),
            metadata={"day": day.isoformat(), "file": Path(cut_file).name},
        )

    @staticmethod
    def _refuse(day: date, what: str, usable: int) -> None:
        raise dg.Failure(
            description=(
                f"The GA4 export for {day} {what}; nothing was replaced. A failed or partial "
                "export looks like this. If the day really was quiet (an outage), run it with "
                f"the day in config expected_low_days: ['{day}']."
            ),
            metadata={"day": day.isoformat(), "usable_lines": usable},
        )


# Loads any day but an empty one: for loads outside a run (tests, benchmarks).
LOAD_EVERY_DAY = Ga4DayPolicy()


class Ga4Loader(dg.ConfigurableResource, ABC):
    """Lands export days in `raw_ga4.events`: the local files into DuckDB, the export dataset
    into BigQuery. Which one runs is chosen where the resources are built."""

    @abstractmethod
    def load_window(self, days: list[date], policy: Ga4DayPolicy = LOAD_EVERY_DAY) -> Ga4LoadStats:
        """Replace `raw_ga4.events` (and its quarantine) for exactly these export days, in one
        transaction: a re-run replaces the same days again, a failed one leaves the old rows.

        A day the policy takes for a broken export fails the load, and nothing is replaced.
        """
