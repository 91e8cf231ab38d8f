"""The local warehouse: one DuckDB file, written through `dagster-duckdb`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from calback_platform.resources.duckdb_ga4 import (
    EVENTS,
    EVENTS_COLUMNS,
    QUARANTINE,
    QUARANTINE_COLUMNS,
    REJECTED_VALUES,
    REJECTED_VALUES_COLUMNS,
    Ga4WindowLoad,
    ensure_table,
)
from calback_platform.resources.firestore_source import PAGE_SCHEMA
from calback_platform.resources.ga4_schema import duckdb_json_structure
from calback_platform.resources.ga4_source import GA4Export, LocalGA4Export
from calback_platform.resources.warehouse import (
    FirestoreLoadStats,
    Ga4LoadStats,
    Warehouse,
)

_FIRESTORE_SCHEMA_SQL = """
    select key, string_agg(distinct json_type(json_extract(data, '$."' || key || '"')), '|'
                           order by json_type(json_extract(data, '$."' || key || '"')))
    from (select data, unnest(json_keys(data)) as key from incoming where error is null)
    group by key
"""


class DuckDBWarehouse(Warehouse):
    """DuckDB allows one writer: assets that use it share a Dagster pool (see definitions)."""

    path: str
    # DuckDB would otherwise cache up to 80% of RAM; past this it spills to disk instead, so a
    # load's memory stays flat however large the collection or the window.
    memory_limit: str = "192MB"

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Rows carry their own order (line numbers, timestamps): DuckDB need not keep it.
        config = {"memory_limit": self.memory_limit, "preserve_insertion_order": False}
        with DuckDBResource(database=self.path, connection_config=config).get_connection() as con:
            yield con

    # --- GA4 ---------------------------------------------------------------------------------
    def load_ga4_window(
        self, export: GA4Export, days: list[date], max_bad_share: float = 1.0
    ) -> Ga4LoadStats:
        if not isinstance(export, LocalGA4Export):
            raise TypeError(f"The DuckDB warehouse loads a local GA4 export, not {export!r}")
        files = {day: export.day_files(day) for day in days}  # fails before touching anything
        structure = duckdb_json_structure()
        with self._connect() as con:
            con.execute("begin transaction")
            for table, columns in (
                (EVENTS, EVENTS_COLUMNS),
                (QUARANTINE, QUARANTINE_COLUMNS),
                (REJECTED_VALUES, REJECTED_VALUES_COLUMNS),
            ):
                ensure_table(con, table, columns)
                con.execute(
                    f"delete from {table} where export_date >= ? and export_date <= ?",
                    [min(days), max(days)],
                )
            load = Ga4WindowLoad(con, structure, con.execute("select now()").fetchone()[0])
            try:
                stats = load.load(files, max_bad_share)
            except dg.Failure:
                con.execute("rollback")  # every day of the window stays as it was
                raise
            con.execute("commit")
        return stats

    # --- Firestore ---------------------------------------------------------------------------
    def firestore_watermark(self, table: str) -> datetime | None:
        changelog = f"raw_firestore.{table}_raw_changelog"
        with self._connect() as con:
            exists = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'raw_firestore' and table_name = ?",
                [f"{table}_raw_changelog"],
            ).fetchone()[0]
            if not exists:
                return None
            return con.execute(
                f"select max(timestamp) from {changelog} where operation <> 'DELETE'"
            ).fetchone()[0]

    def apply_firestore_read(
        self,
        table: str,
        pages: Iterable[pa.RecordBatch],
        present_names: Iterable[pa.RecordBatch] | None = None,
    ) -> FirestoreLoadStats:
        changelog = f"raw_firestore.{table}_raw_changelog"
        quarantine = f"raw_firestore.{table}_quarantine"
        stats = FirestoreLoadStats()
        with self._connect() as con:
            self._create_firestore_tables(con, changelog, quarantine)
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
            con.execute("begin transaction")
            con.execute(
                f"""create or replace temp table latest as
                select * from {changelog}
                qualify row_number() over (
                    partition by document_name order by _loaded_at desc, timestamp desc) = 1"""
            )
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
            stats.schema = dict(con.execute(_FIRESTORE_SCHEMA_SQL).fetchall())
            stats.live_documents = con.execute(
                f"""select count(*) from (
                    select operation from {changelog}
                    qualify row_number() over (
                        partition by document_name order by _loaded_at desc, timestamp desc) = 1
                ) where operation <> 'DELETE'"""
            ).fetchone()[0]
        return stats

    @staticmethod
    def _create_firestore_tables(con, changelog: str, quarantine: str) -> None:
        con.execute("create schema if not exists raw_firestore")
        con.execute(
            f"""create table if not exists {changelog} (
                timestamp timestamptz, event_id varchar, document_name varchar,
                operation varchar, data varchar, old_data varchar, document_id varchar,
                _loaded_at timestamptz)"""
        )
        con.execute(
            f"""create table if not exists {quarantine} (
                record_ref varchar, reason varchar, raw_record varchar, _loaded_at timestamptz)"""
        )

    # --- reads ---------------------------------------------------------------------------------
    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        with self._connect() as con:
            return con.execute(sql, parameters or []).fetchall()

    def query_frame(self, sql: str) -> pd.DataFrame:
        with self._connect() as con:
            return con.execute(sql).df()

    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        schema = table.split(".")[0]
        with self._connect() as con:
            con.execute(f"create schema if not exists {schema}")
            con.execute("begin transaction")
            con.execute(f"create or replace table {table} as select * from frame")
            con.execute("commit")
        return len(frame)


def _empty_page() -> str:
    columns = ", ".join(
        f"null::{'timestamptz' if pa.types.is_timestamp(f.type) else 'varchar'} as {f.name}"
        for f in PAGE_SCHEMA
    )
    return f"(select {columns} limit 0)"
