"""The Firestore changelogs in BigQuery: a read's pages stream into a staging table by load jobs,
then one multi-statement transaction appends the changes and replaces the quarantine."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pyarrow as pa
from google.cloud import bigquery

from calback_platform.ingest.firestore.changelog import (
    CHANGELOG_SCHEMA,
    FIRESTORE_DELETES_SQL,
    QUARANTINE_SCHEMA,
    CollectionTables,
    FirestoreChangelog,
    FirestoreLoadStats,
    latest_versions_sql,
    refuse_mass_delete,
)
from calback_platform.ingest.firestore.source import PAGE_SCHEMA
from calback_platform.warehouse.bigquery import BigQueryWarehouse


def create_tables_sql(changelog: str, latest: str, quarantine: str) -> str:
    columns = BigQueryWarehouse.columns_sql
    return f"""create table if not exists `{changelog}` ({columns(CHANGELOG_SCHEMA)})
    partition by date(_loaded_at)
    cluster by document_name;
    create table if not exists `{quarantine}` ({columns(QUARANTINE_SCHEMA)});
    create view if not exists `{latest}` as {latest_versions_sql(f"`{changelog}`")};"""


def apply_sql(
    changelog: str, latest: str, quarantine: str, incoming: str, present: str, full_read: bool
) -> str:
    """The DuckDB warehouse's change detection in BigQuery, in one transaction; the script's
    last statement returns the change counts by operation."""
    quarantine_scope = (
        "true"  # a full read speaks for every record
        if full_read
        else f"record_ref in (select record_ref from `{incoming}` where error is not null)"
    )
    return f"""declare loaded_at timestamp default current_timestamp();
    begin transaction;
    create temp table latest as select * from `{latest}`;
    create temp table changes as
    with incoming_documents as (
        select * from `{incoming}`
        where error is null
        qualify row_number() over (partition by document_name order by record_ref) = 1
    )
    select coalesce(i.updated_at, loaded_at) as timestamp, generate_uuid() as event_id,
        i.document_name,
        case when l.document_name is null
                 then if((select count(*) = 0 from latest), 'IMPORT', 'CREATE')
             when l.operation = 'DELETE' then 'CREATE'
             else 'UPDATE' end as operation,
        i.data, if(l.operation <> 'DELETE', l.data, null) as old_data, i.document_id,
        loaded_at as _loaded_at
    from incoming_documents as i
    left join latest as l using (document_name)
    where l.document_name is null or l.operation = 'DELETE' or l.data <> i.data
    union all
    select loaded_at, generate_uuid(), l.document_name, 'DELETE', null, l.data, l.document_id,
        loaded_at
    from latest as l
    where l.operation <> 'DELETE'
      and l.document_name not in (
          select document_name from `{present}` where document_name is not null);
    insert into `{changelog}` select * from changes;
    delete from `{quarantine}` where {quarantine_scope};
    insert into `{quarantine}`
    select record_ref, error, raw, loaded_at from `{incoming}` where error is not null;
    commit transaction;
    select operation, count(*) as changes from changes group by operation;"""


def _stats_sql(latest: str, incoming: str) -> str:
    return f"""select
        (select count(*) from `{incoming}` where error is null) as documents_read,
        (select count(*) from `{latest}` where operation <> 'DELETE') as live_documents"""


def _schema_sql(incoming: str) -> str:
    return f"""select key, string_agg(distinct kind, '|' order by kind)
    from (
        select key, json_type(parse_json(data)[key]) as kind
        from `{incoming}`, unnest(json_keys(parse_json(data), 1)) as key
        where error is null
    )
    group by key"""


class BigQueryFirestoreChangelog(FirestoreChangelog):
    warehouse: BigQueryWarehouse

    def _names(self, tables: CollectionTables) -> tuple[str, str, str]:
        """The changelog, latest view and quarantine, with the project."""
        table = self.warehouse.table
        return table(tables.changelog), table(tables.latest), table(tables.quarantine)

    def _create_tables(self, client: bigquery.Client, tables: CollectionTables) -> None:
        self.warehouse.ensure_dataset(client, "raw_firestore")
        self.warehouse.run(client, create_tables_sql(*self._names(tables)))

    def watermark(self, tables: CollectionTables) -> datetime | None:
        changelog = self.warehouse.table(tables.changelog)
        with self.warehouse.client() as client:
            if not self.warehouse.exists(client, changelog):
                return None
            return self.warehouse.run(
                client, f"select max(timestamp) from `{changelog}` where operation <> 'DELETE'"
            )[0][0]

    def apply_read(
        self,
        tables: CollectionTables,
        pages: Iterable[pa.RecordBatch],
        present_names: Iterable[pa.RecordBatch] | None = None,
        max_delete_share: float = 1.0,
    ) -> FirestoreLoadStats:
        warehouse = self.warehouse
        changelog, latest, quarantine = self._names(tables)
        incoming = warehouse.table(warehouse.stage_name("raw_firestore", tables.stem))
        present = incoming
        stats = FirestoreLoadStats()
        with warehouse.client() as client:
            self._create_tables(client, tables)
            try:
                warehouse.load_pages(client, incoming, PAGE_SCHEMA, pages)
                if present_names is not None:
                    present = warehouse.table(
                        warehouse.stage_name("raw_firestore", f"{tables.stem}_present")
                    )
                    names = pa.schema(
                        [PAGE_SCHEMA.field("document_name"), PAGE_SCHEMA.field("error")]
                    )
                    warehouse.load_pages(
                        client, present, names, (p.select(names.names) for p in present_names)
                    )
                live, deletes = warehouse.run(
                    client,
                    FIRESTORE_DELETES_SQL.format(latest=f"`{latest}`", present=f"`{present}`"),
                )[0]
                refuse_mass_delete(changelog, live, deletes, max_delete_share)
                apply = apply_sql(
                    changelog, latest, quarantine, incoming, present, present_names is None
                )
                stats.changes.update(dict(warehouse.run(client, apply)))
                stats.documents_read, stats.live_documents = warehouse.run(
                    client, _stats_sql(latest, incoming)
                )[0]
                for reason, count in warehouse.run(
                    client,
                    f"select split(error, ':')[offset(0)], count(*) from `{incoming}` "
                    "where error is not null group by 1",
                ):
                    stats.quarantined[reason] += count
                stats.schema = dict(warehouse.run(client, _schema_sql(incoming)))
            finally:
                for stage in {incoming, present}:
                    client.delete_table(stage, not_found_ok=True)
        return stats

    def deleted_names(self, tables: CollectionTables) -> set[str]:
        changelog, latest, _ = self._names(tables)
        with self.warehouse.client() as client:
            if not self.warehouse.exists(client, changelog):
                return set()
            self._create_tables(client, tables)  # a changelog from before the view existed
            return {
                name
                for (name,) in self.warehouse.run(
                    client, f"select document_name from `{latest}` where operation = 'DELETE'"
                )
            }
