"""Firestore collections, landed as extension-shaped changelogs in `raw_firestore`."""

from itertools import chain

import dagster as dg
from pydantic import Field

from calback_platform.ingest.firestore.changelog import CollectionTables, FirestoreChangelog
from calback_platform.ingest.firestore.source import (
    COLLECTION_TABLES,
    INCREMENTAL_FIELD,
    FirestoreSource,
)
from calback_platform.warehouse.base import Warehouse


class FirestoreLoadConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Read every document even where an updatedAt watermark allows less.",
    )
    max_delete_share: float = Field(
        default=0.05,
        description=(
            "A read that would delete more than this share of the live documents (an empty "
            "read always does) fails and records nothing; 1.0 lets a deliberate mass delete "
            "through."
        ),
    )


def collection_tables(collection: str) -> CollectionTables:
    return CollectionTables(COLLECTION_TABLES[collection])


def changelog_key(collection: str) -> dg.AssetKey:
    """The raw changelog of a collection, asset and table (`raw_firestore.<stem>_raw_changelog`)."""
    return dg.AssetKey(collection_tables(collection).changelog.split("."))


def build_firestore_asset(
    collection: str, pool: str | None, warehouse_kind: str
) -> dg.AssetsDefinition:
    tables = collection_tables(collection)
    incremental_field = INCREMENTAL_FIELD.get(collection)
    how = (
        f"incremental on `{incremental_field}` (with a keys-only read for deletes)"
        if incremental_field
        else "a full read each time (no reliable updatedAt)"
    )

    @dg.asset(
        key=changelog_key(collection),
        group_name="raw_firestore",
        pool=pool,
        kinds={"firebase", warehouse_kind},
        description=(
            f"Firestore `{collection}` as a changelog (CREATE/UPDATE/DELETE/IMPORT rows, the "
            f"Stream Firestore to BigQuery extension's shape), read {how}, with the view "
            f"{tables.latest} of each document's latest row. Unusable records go to "
            f"{tables.quarantine}."
        ),
    )
    def firestore_changelog(
        context: dg.AssetExecutionContext,
        config: FirestoreLoadConfig,
        firestore: FirestoreSource,
        firestore_changelog: FirestoreChangelog,
        warehouse: Warehouse,
    ) -> dg.MaterializeResult:
        watermark = None
        if incremental_field and not config.full_refresh:
            watermark = firestore_changelog.watermark(tables)
        if watermark:
            context.log.info(
                f"Reading {collection} documents with {incremental_field} >= {watermark}"
            )
            # A document recorded as deleted that exists again (a bad export deleted it) is read
            # whatever its updatedAt: the watermark would otherwise skip it for good.
            revived = _existing(firestore, collection, firestore_changelog.deleted_names(tables))
            if revived:
                context.log.info(f"Reading {len(revived)} documents again that were deleted")
            stats = firestore_changelog.apply_read(
                tables,
                chain(
                    firestore.read_pages(collection, updated_after=watermark),
                    firestore.read_documents(collection, revived),
                ),
                present_names=firestore.read_document_names(collection),
                max_delete_share=config.max_delete_share,
            )
        else:
            context.log.info(f"Reading all of {collection}")
            stats = firestore_changelog.apply_read(
                tables, firestore.read_pages(collection), max_delete_share=config.max_delete_share
            )
        quarantined = sum(stats.quarantined.values())
        context.log.info(
            f"{stats.documents_read} documents read, changes {dict(stats.changes)}, "
            f"{quarantined} quarantined, {stats.live_documents} live documents"
        )
        return dg.MaterializeResult(
            metadata={
                "documents_read": stats.documents_read,
                "changes": dg.MetadataValue.json(dict(stats.changes)),
                "quarantined": quarantined,
                "quarantine_reasons": dg.MetadataValue.json(dict(stats.quarantined)),
                "schema": dg.MetadataValue.json(stats.schema),
                "live_documents": stats.live_documents,
                "read": "incremental" if watermark else "full",
                "dagster/row_count": stats.live_documents,
                "latest_changes": warehouse.preview(
                    "select document_id, operation, timestamp, _loaded_at "
                    f"from {tables.changelog} "
                    "order by _loaded_at desc, document_id limit 5"
                ),
            }
        )

    return firestore_changelog


def _existing(firestore: FirestoreSource, collection: str, names: set[str]) -> set[str]:
    """Those of `names` that are documents of the collection now (a keys-only read)."""
    if not names:
        return set()
    return {
        name
        for page in firestore.read_document_names(collection)
        for name in page["document_name"].to_pylist()
        if name in names
    }


def build_firestore_assets(pool: str | None, warehouse_kind: str) -> list[dg.AssetsDefinition]:
    return [
        build_firestore_asset(collection, pool, warehouse_kind) for collection in COLLECTION_TABLES
    ]
