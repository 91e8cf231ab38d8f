"""The GA4 / Firebase Analytics export, landed per Asia/Seoul day in `raw_ga4.events`."""

from datetime import date

import dagster as dg
from pydantic import Field

from calback_platform.ingest.ga4.load import Ga4DayPolicy, Ga4Loader
from calback_platform.partitions import window_days
from calback_platform.warehouse.base import Warehouse

GA4_EVENTS = dg.AssetKey(["raw_ga4", "events"])


class Ga4LoadConfig(dg.Config):
    """When a day's export is taken for broken: the run fails without replacing anything.
    A file cut inside its last line always is."""

    max_bad_share: float = Field(
        default=0.2,
        description="Quarantine unusable lines up to this share of a day; above it, fail.",
    )
    min_day_share: float = Field(
        default=0.05,
        description=(
            "Fail a day with fewer usable lines than this share of a recent day's (the median "
            "of the 7 days before it); a day with none always fails."
        ),
    )
    expected_low_days: list[str] = Field(
        default=[],
        description=(
            "Days (YYYY-MM-DD) known to be quiet, an outage: their volume is not judged. "
            "Added to CALBACK_GA4_QUIET_DAYS."
        ),
    )

    def policy(self, quiet_days: frozenset[date]) -> Ga4DayPolicy:
        return Ga4DayPolicy(
            max_bad_share=self.max_bad_share,
            min_day_share=self.min_day_share,
            expected_low_days=quiet_days | {date.fromisoformat(d) for d in self.expected_low_days},
        )


def build_ga4_events_asset(
    partitions_def: dg.PartitionsDefinition,
    pool: str | None,
    warehouse_kind: str,
    quiet_days: frozenset[date] = frozenset(),
) -> dg.AssetsDefinition:
    @dg.asset(
        key=GA4_EVENTS,
        group_name="raw_ga4",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=pool,
        kinds={warehouse_kind, "python"},
        description=(
            "GA4 daily export (events_YYYYMMDD + intraday), one partition per export day, every "
            "field kept (unknown ones in _unknown_fields). Exact duplicates are dropped, unusable "
            "lines go to raw_ga4.events_quarantine with a reason, values of the wrong type land "
            "as NULL and are kept in raw_ga4.events_rejected_values; each run replaces exactly "
            "its days in one transaction."
        ),
    )
    def raw_ga4_events(
        context: dg.AssetExecutionContext,
        config: Ga4LoadConfig,
        ga4: Ga4Loader,
        warehouse: Warehouse,
    ) -> dg.MaterializeResult:
        days = window_days(context)
        context.log.info(f"Loading the GA4 export for {len(days)} day(s): {days[0]} .. {days[-1]}")
        stats = ga4.load_window(days, config.policy(quiet_days))
        quarantined = sum(stats.quarantined.values())
        context.log.info(
            f"{stats.source_lines} lines -> {stats.rows} events ({stats.cookieless_events} "
            f"cookieless), {stats.duplicates} exact duplicates dropped, {quarantined} "
            f"quarantined {dict(stats.quarantined)}, {stats.rejected_values} values of the wrong "
            "type kept aside"
        )
        if stats.unknown_fields:
            context.log.warning(
                f"Fields the schema does not know yet, kept in _unknown_fields: "
                f"{sorted(stats.unknown_fields)}"
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": stats.rows,
                "source_lines": stats.source_lines,
                "duplicates_dropped": stats.duplicates,
                "quarantined": quarantined,
                "quarantine_reasons": dg.MetadataValue.json(dict(stats.quarantined)),
                "cookieless_events": stats.cookieless_events,
                "rejected_values": stats.rejected_values,
                "unknown_fields": dg.MetadataValue.json(sorted(stats.unknown_fields)),
                "schema": dg.MetadataValue.json(stats.schema),
                "rows_by_day": dg.MetadataValue.json(stats.rows_by_day),
                "files": len(stats.files),
                "quarantine_table": "raw_ga4.events_quarantine",
                "preview": warehouse.preview(
                    "select export_date, event_name, user_pseudo_id, user_id, platform "
                    f"from raw_ga4.events where export_date = '{days[-1]}' limit 5"
                ),
            }
        )

    return raw_ga4_events
