"""Firestore collections, landed as extension-shaped changelogs in `raw_firestore`."""

import dagster as dg
from pydantic import Field

from calback_platform.resources.firestore_source import (
    COLLECTION_TABLES,
    INCREMENTAL_FIELD,
    FirestoreSource,
)
from calback_platform.resources.warehouse import Warehouse


class FirestoreLoadConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Read every document even where an updatedAt watermark allows less.",
    )


def build_firestore_asset(collection: str, pool: str | None) -> dg.AssetsDefinition:
    table = COLLECTION_TABLES[collection]
    incremental_field = INCREMENTAL_FIELD.get(collection)
    how = (
        f"incremental on `{incremental_field}` (with a keys-only read for deletes)"
        if incremental_field
        else "a full read each time (no reliable updatedAt)"
    )

    @dg.asset(
        key=["raw_firestore", f"{table}_raw_changelog"],
        group_name="raw_firestore",
        pool=pool,
        kinds={"firebase", "duckdb"},
        description=(
            f"Firestore `{collection}` as a changelog (CREATE/UPDATE/DELETE/IMPORT rows, the "
            f"Stream Firestore to BigQuery extension's shape), read {how}. Unusable records go "
            f"to raw_firestore.{table}_quarantine."
        ),
    )
    def firestore_changelog(
        context: dg.AssetExecutionContext,
        config: FirestoreLoadConfig,
        warehouse: Warehouse,
        firestore: FirestoreSource,
    ) -> dg.MaterializeResult:
        watermark = None
        if incremental_field and not config.full_refresh:
            watermark = warehouse.firestore_watermark(table)
        if watermark:
            context.log.info(
                f"Reading {collection} documents with {incremental_field} >= {watermark}"
            )
            stats = warehouse.apply_firestore_read(
                table,
                firestore.read_pages(collection, updated_after=watermark),
                present_names=firestore.read_document_names(collection),
            )
        else:
            context.log.info(f"Reading all of {collection}")
            stats = warehouse.apply_firestore_read(table, firestore.read_pages(collection))
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
                    f"from raw_firestore.{table}_raw_changelog "
                    "order by _loaded_at desc, document_id limit 5"
                ),
            }
        )

    return firestore_changelog


def build_firestore_assets(pool: str | None) -> list[dg.AssetsDefinition]:
    return [build_firestore_asset(collection, pool) for collection in COLLECTION_TABLES]
