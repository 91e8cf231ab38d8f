"""The Firestore changelogs in the local DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import duckdb
import pyarrow as pa

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
from calback_platform.warehouse.duckdb import DuckDBWarehouse

# The document fields a read saw -> their JSON types.
_SCHEMA_SQL = """
    select key, string_agg(distinct json_type(json_extract(data, '$."' || key || '"')), '|'
                           order by json_type(json_extract(data, '$."' || key || '"')))
    from (select data, unnest(json_keys(data)) as key from incoming where error is null)
    group by key
"""


def create_tables(con: duckdb.DuckDBPyConnection, tables: CollectionTables) -> None:
    con.execute("create schema if not exists raw_firestore")
    columns = DuckDBWarehouse.columns_sql
    con.execute(f"create table if not exists {tables.changelog} ({columns(CHANGELOG_SCHEMA)})")
    con.execute(f"create table if not exists {tables.quarantine} ({columns(QUARANTINE_SCHEMA)})")
    con.execute(
        f"create view if not exists {tables.latest} as {latest_versions_sql(tables.changelog)}"
    )


class DuckDBFirestoreChangelog(FirestoreChangelog):
    warehouse: DuckDBWarehouse

    def watermark(self, tables: CollectionTables) -> datetime | None:
        with self.warehouse.connect() as con:
            if not self.warehouse.exists(con, tables.changelog):
                return None
            return con.execute(
                f"select max(timestamp) from {tables.changelog} where operation <> 'DELETE'"
            ).fetchone()[0]

    def apply_read(
        self,
        tables: CollectionTables,
        pages: Iterable[pa.RecordBatch],
        present_names: Iterable[pa.RecordBatch] | None = None,
        max_delete_share: float = 1.0,
    ) -> FirestoreLoadStats:
        changelog, quarantine = tables.changelog, tables.quarantine
        stats = FirestoreLoadStats()
        with self.warehouse.connect() as con:
            create_tables(con, tables)
            # Stage the read page by page: DuckDB spills to disk, Python holds one page.
            con.execute(f"create or replace temp table incoming as select * from {_empty_page()}")
            for page in pages:
                con.from_arrow(page).insert_into("incoming")
            if present_names is None:
                con.execute(
                    "create or replace temp table present as select document_name from incoming"
                )
            else:
                con.execute(
                    "create or replace temp table present (document_name varchar, error varchar)"
                )
                for page in present_names:
                    con.from_arrow(page.select(["document_name", "error"])).insert_into("present")
            first_load = con.execute(f"select count(*) = 0 from {changelog}").fetchone()[0]
            con.execute(f"create or replace temp table latest as select * from {tables.latest}")
            live, deletes = con.execute(
                FIRESTORE_DELETES_SQL.format(latest="latest", present="present")
            ).fetchone()
            refuse_mass_delete(changelog, live, deletes, max_delete_share)
            con.execute("begin transaction")
            con.execute(
                f"""insert into {changelog}
                with incoming_documents as (
                    select * from incoming where error is null
                    qualify row_number() over (partition by document_name order by record_ref) = 1
                )
                select coalesce(i.updated_at, get_current_timestamp()), uuid()::varchar,
                       i.document_name,
                       case when l.document_name is null
                            then (case when ? then 'IMPORT' else 'CREATE' end)
                            when l.operation = 'DELETE' then 'CREATE'
                            else 'UPDATE' end,
                       i.data,
                       case when l.operation <> 'DELETE' then l.data end,
                       i.document_id, get_current_timestamp()
                from incoming_documents as i
                left join latest as l using (document_name)
                where l.document_name is null or l.operation = 'DELETE' or l.data <> i.data""",
                [first_load],
            )
            con.execute(
                f"""insert into {changelog}
                select get_current_timestamp(), uuid()::varchar, l.document_name, 'DELETE',
                       null, l.data, l.document_id, get_current_timestamp()
                from latest as l
                where l.operation <> 'DELETE'
                  and l.document_name not in (
                      select document_name from present where document_name is not null)"""
            )
            # Replace the quarantine rows this read speaks for: all on a full read, else the
            # records it saw again.
            if present_names is None:
                con.execute(f"delete from {quarantine}")
            con.execute(
                f"""delete from {quarantine}
                where record_ref in (select record_ref from incoming where error is not null)"""
            )
            con.execute(
                f"""insert into {quarantine}
                select record_ref, error, raw, get_current_timestamp()
                from incoming where error is not null"""
            )
            for operation, count in con.execute(
                f"""select operation, count(*) from {changelog}
                where _loaded_at = get_current_timestamp() group by 1"""
            ).fetchall():
                stats.changes[operation] = count
            con.execute("commit")
            stats.documents_read = con.execute(
                "select count(*) from incoming where error is null"
            ).fetchone()[0]
            for reason, count in con.execute(
                "select split_part(error, ':', 1), count(*) from incoming "
                "where error is not null group by 1"
            ).fetchall():
                stats.quarantined[reason] += count
            stats.schema = dict(con.execute(_SCHEMA_SQL).fetchall())
            stats.live_documents = con.execute(
                f"select count(*) from {tables.latest} where operation <> 'DELETE'"
            ).fetchone()[0]
        return stats

    def deleted_names(self, tables: CollectionTables) -> set[str]:
        with self.warehouse.connect() as con:
            if not self.warehouse.exists(con, tables.changelog):
                return set()
            create_tables(con, tables)  # a changelog from before the view existed
            return {
                name
                for (name,) in con.execute(
                    f"select document_name from {tables.latest} where operation = 'DELETE'"
                ).fetchall()
            }


def _empty_page() -> str:
    columns = ", ".join(
        f"null::{DuckDBWarehouse.column_types[f.type]} as {f.name}" for f in PAGE_SCHEMA
    )
    return f"(select {columns} limit 0)"
