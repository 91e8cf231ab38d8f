"""Personal data has a lifetime: the raw tables keep it as pseudonyms, and only while it is needed.

At ingestion the personal fields (PII_FIELDS) become keyed hashes. A deleted user's pseudonyms
stay joinable for the retention period, then this asset removes them from every version of the
document in the raw changelog and from the snapshot; damaged records, kept as they came in the
quarantine (the one place plain personal data may be), lose their text after the same period.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from calback_platform.ingest.firestore.asset import changelog_key, collection_tables
from calback_platform.ingest.firestore.source import COLLECTION_TABLES, PII_FIELDS
from calback_platform.personal_data.store import PersonalData, PersonalDataStore

PURGE = dg.AssetKey(["raw_firestore", "personal_data_purge"])
USERS_SNAPSHOT = dg.AssetKey(["snapshots", "users_snapshot"])
# Where a collection's personal fields are copied to, keyed by the document id.
COPIES = {"userCollection": (("snapshots.users_snapshot", "user_id", ("email_pseudonym",)),)}


def personal_data_places() -> list[PersonalData]:
    return [
        PersonalData(
            tables=collection_tables(collection), fields=fields, copies=COPIES.get(collection, ())
        )
        for collection, fields in PII_FIELDS.items()
    ]


def allowed_tables() -> set[str]:
    """The quarantines: damaged records are kept as they came, for the retention period."""
    return {collection_tables(collection).quarantine for collection in COLLECTION_TABLES}


def build_personal_data_assets(
    retention_days: int, pool: str | None
) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    raw = [changelog_key(collection) for collection in PII_FIELDS]

    @dg.asset(
        key=PURGE,
        deps=[*raw, USERS_SNAPSHOT],
        group_name="raw_firestore",
        pool=pool,
        kinds={"python"},
        description=(
            f"Purges the personal fields of users deleted more than {retention_days} days ago "
            "(CALBACK_PII_RETENTION_DAYS) from the raw changelog and the snapshot, and the text "
            "of quarantined records older than that. Runs with the daily job."
        ),
    )
    def personal_data_purge(
        context: dg.AssetExecutionContext, personal_data: PersonalDataStore
    ) -> dg.MaterializeResult:
        before = datetime.now(timezone.utc) - timedelta(days=retention_days)
        changed = {}
        for personal in personal_data_places():
            changed |= personal_data.purge(personal, before)
        context.log.info(
            f"Purged personal data deleted before {before:%Y-%m-%d %H:%M} UTC: {changed}"
        )
        return dg.MaterializeResult(
            metadata={
                "rows_purged": dg.MetadataValue.json(changed),
                "dagster/row_count": sum(changed.values()),
                "deleted_before": before.isoformat(),
                "retention_days": retention_days,
            }
        )

    @dg.asset_check(
        asset=PURGE,
        name="no_plain_personal_data",
        description=(
            "No table but the Firestore quarantines holds an email address or a phone number in "
            "plain text (the GA4 export is Google's and is not scanned)."
        ),
    )
    def no_plain_personal_data(personal_data: PersonalDataStore) -> dg.AssetCheckResult:
        found = personal_data.find_plain(allowed_tables())
        return dg.AssetCheckResult(
            passed=not found,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "tables": dg.MetadataValue.json(
                    [{"table": table, "kind": kind, "rows": rows} for table, kind, rows in found]
                )
            },
        )

    return personal_data_purge, no_plain_personal_data
