"""The local warehouse: one DuckDB file, written through `dagster-duckdb`."""

from __future__ import annotations

from collections import defaultdict
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
    FIRESTORE_DELETES_SQL,
    LOAD_EVERY_DAY,
    PLAIN_PERSONAL_DATA,
    FirestoreLoadStats,
    Ga4DayPolicy,
    Ga4LoadStats,
    PersonalData,
    Warehouse,
    latest_versions_sql,
    refuse_mass_delete,
    removed_fields_sql,
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
            try:
                yield con
            finally:  # DuckDBResource closes it only when no error came through
                con.close()

    # --- GA4 ---------------------------------------------------------------------------------
    def load_ga4_window(
        self, export: GA4Export, days: list[date], policy: Ga4DayPolicy = LOAD_EVERY_DAY
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
                stats = load.load(files, policy)
            except dg.Failure:
                con.execute("rollback")  # every day of the window stays as it was
                raise
            con.execute("commit")
        return stats

    # --- Firestore ---------------------------------------------------------------------------
    def firestore_watermark(self, table: str) -> datetime | None:
        changelog = f"raw_firestore.{table}_raw_changelog"
        with self._connect() as con:
            if not self._exists(con, changelog):
                return None
            return con.execute(
                f"select max(timestamp) from {changelog} where operation <> 'DELETE'"
            ).fetchone()[0]

    def apply_firestore_read(
        self,
        table: str,
        pages: Iterable[pa.RecordBatch],
        present_names: Iterable[pa.RecordBatch] | None = None,
        max_delete_share: float = 1.0,
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
            con.execute(f"create or replace temp table latest as {latest_versions_sql(changelog)}")
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
            stats.schema = dict(con.execute(_FIRESTORE_SCHEMA_SQL).fetchall())
            stats.live_documents = con.execute(
                f"select count(*) from ({latest_versions_sql(changelog)}) "
                "where operation <> 'DELETE'"
            ).fetchone()[0]
        return stats

    def firestore_deleted_names(self, table: str) -> set[str]:
        changelog = f"raw_firestore.{table}_raw_changelog"
        with self._connect() as con:
            if not self._exists(con, changelog):
                return set()
            return {
                name
                for (name,) in con.execute(
                    f"select document_name from ({latest_versions_sql(changelog)}) "
                    "where operation = 'DELETE'"
                ).fetchall()
            }

    # --- personal data ---------------------------------------------------------------------
    def purge_personal_data(self, personal: PersonalData, before: datetime) -> dict[str, int]:

        def without(column: str) -> str:
            return f"{removed_fields_sql(column, personal.fields)}::varchar"

        def holds(column: str) -> str:
            return " or ".join(
                f"""json_exists({column}, '$."{field}"')""" for field in personal.fields
            )

        changed = {}
        with self._connect() as con:
            if not self._exists(con, personal.changelog):
                return changed
            con.execute("begin transaction")
            con.execute(
                f"""create or replace temp table purged as
                select document_name, document_id from ({latest_versions_sql(personal.changelog)})
                where operation = 'DELETE' and timestamp < ?""",
                [before],
            )
            changed[personal.changelog] = con.execute(
                f"""update {personal.changelog}
                set data = {without("data")}, old_data = {without("old_data")}
                where document_name in (select document_name from purged)
                  and ({holds("data")} or {holds("old_data")})"""
            ).fetchone()[0]
            changed[personal.quarantine] = con.execute(
                f"""update {personal.quarantine} set raw_record = null
                where _loaded_at < ? and raw_record is not null""",
                [before],
            ).fetchone()[0]
            for table, key, columns in personal.copies:
                if self._exists(con, table):
                    changed[table] = con.execute(
                        f"""update {table} set {", ".join(f"{c} = null" for c in columns)}
                        where {key} in (select document_id from purged)
                          and ({" or ".join(f"{c} is not null" for c in columns)})"""
                    ).fetchone()[0]
            con.execute("commit")
        return changed

    def find_plain_personal_data(self, allowed: set[str]) -> list[tuple[str, str, int]]:
        found = []
        with self._connect() as con:
            columns: dict[str, list[str]] = defaultdict(list)
            for schema, table, column in con.execute(
                """select table_schema, table_name, column_name from information_schema.columns
                where table_catalog = current_database() and data_type in ('VARCHAR', 'JSON')
                  and table_schema not in ('raw_ga4', 'main', 'information_schema')
                order by all"""
            ).fetchall():
                if f"{schema}.{table}" not in allowed:
                    columns[f"{schema}.{table}"].append(column)
            for table, names in columns.items():
                counts = ", ".join(
                    "count(*) filter (where "
                    + " or ".join(f'regexp_matches("{name}", ${kind})' for name in names)
                    + ")"
                    for kind in PLAIN_PERSONAL_DATA
                )
                rows = con.execute(f"select {counts} from {table}", PLAIN_PERSONAL_DATA).fetchone()
                found += [
                    (table, kind, n) for kind, n in zip(PLAIN_PERSONAL_DATA, rows, strict=True) if n
                ]
        return found

    @staticmethod
    def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
        schema, name = table.split(".")
        return con.execute(
            "select count(*) > 0 from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]

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
