"""The local warehouse: one DuckDB file, written through `dagster-duckdb`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from calback_platform.resources.firestore_source import PAGE_SCHEMA
from calback_platform.resources.ga4_schema import GA4_REQUIRED_FIELDS, duckdb_json_structure
from calback_platform.resources.ga4_source import GA4Export, LocalGA4Export
from calback_platform.resources.warehouse import (
    FirestoreLoadStats,
    Ga4LoadStats,
    Warehouse,
    raise_corrupt_export,
)

_GA4_EVENTS = "raw_ga4.events"
# Days are staged in chunks of about this much export text, bounding the temp table.
_GA4_CHUNK_BYTES = 256 * 1024 * 1024
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GA4_QUARANTINE = "raw_ga4.events_quarantine"


# The shape of what was read, for schema-drift checks: JSON types of top-level fields, event
# names, and the value types of event parameters. The fields' types come from one multi-path
# json_extract per line (parsing each line once, not once per key): `?` is the day's key list.
_GA4_SCHEMA_SQL = """
    with lines as (select line, r from ga4_window where reason is null),
    fields as (
        select 'field:' || unnest(?::varchar[]) as name,
               unnest(list_transform(json_extract(line, {paths}), lambda v: json_type(v))) as kind
        from lines
    ),
    events as (select distinct 'event:' || r.event_name as name, 'event' as kind from lines),
    params as (
        select 'param:' || p.key as name,
               case when p.value.string_value is not null then 'string'
                    when p.value.int_value is not null then 'int'
                    when coalesce(p.value.double_value, p.value.float_value) is not null
                        then 'double'
                    else 'null' end as kind
        from (select unnest(r.event_params) as p from lines)
    )
    select name, string_agg(distinct kind, '|' order by kind)
    from (select * from fields union all select * from events union all select * from params)
    where kind is not null  -- a key the line does not have
    group by name
"""
_FIRESTORE_SCHEMA_SQL = """
    select key, string_agg(distinct json_type(json_extract(data, '$."' || key || '"')), '|'
                           order by json_type(json_extract(data, '$."' || key || '"')))
    from (select data, unnest(json_keys(data)) as key from incoming where error is null)
    group by key
"""


def _ga4_reason_sql() -> str:
    """Why a parsed GA4 line is unusable (NULL when it is fine), as a SQL CASE."""
    checks = ["when r is null then 'unparsable JSON'"]
    for name in GA4_REQUIRED_FIELDS:
        value = f"json_extract(line, '$.{name}')"
        checks.append(
            f"when r.{name} is null and {value} is not null and json_type({value}) <> 'NULL' "
            f"then '{name} has the wrong type: ' || left({value}::varchar, 80)"
        )
        checks.append(f"when r.{name} is null or r.{name}::varchar = '' then 'missing {name}'")
    checks.append(
        "when r.event_date <> strftime(export_date, '%Y%m%d') "
        "then 'event_date ' || r.event_date || ' is not the export day'"
    )
    return "case " + " ".join(checks) + " end"


class DuckDBWarehouse(Warehouse):
    """DuckDB allows one writer: assets that use it share a Dagster pool (see definitions)."""

    path: str

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with DuckDBResource(database=self.path).get_connection() as con:
            yield con

    # --- GA4 ---------------------------------------------------------------------------------
    def load_ga4_window(
        self, export: GA4Export, days: list[date], max_bad_share: float = 1.0
    ) -> Ga4LoadStats:
        if not isinstance(export, LocalGA4Export):
            raise TypeError(f"The DuckDB warehouse loads a local GA4 export, not {export!r}")
        files = {day: export.day_files(day) for day in days}  # fails before touching anything
        stats = Ga4LoadStats(files=[str(p) for paths in files.values() for p in paths])
        structure = duckdb_json_structure()
        with self._connect() as con:
            self._create_ga4_tables(con, structure)
            con.execute("begin transaction")
            for table in (_GA4_EVENTS, _GA4_QUARANTINE):
                con.execute(
                    f"delete from {table} where export_date >= ? and export_date < ?",
                    [min(days), max(days) + timedelta(days=1)],
                )
            for chunk in _ga4_chunks(files):
                self._stage_ga4(con, chunk, structure)
                for day, lines, usable in con.execute(
                    "select export_date, count(*), count(*) filter (where reason is null) "
                    "from ga4_window group by 1 order by 1"
                ).fetchall():
                    if lines and (lines - usable) / lines > max_bad_share:
                        first_bad = con.execute(
                            "select source_file, line_number, reason, left(line, 160) "
                            "from ga4_window where export_date = ? and reason is not null "
                            "order by source_file, line_number limit 1",
                            [day],
                        ).fetchone()
                        con.execute("rollback")  # every day of the window stays as it was
                        raise_corrupt_export(day, lines, lines - usable, max_bad_share, first_bad)
                    stats.source_lines += lines
                    stats.duplicates += usable  # less the rows kept, below
                self._insert_ga4(con, stats)
            con.execute("commit")
        return stats

    @staticmethod
    def _create_ga4_tables(con: duckdb.DuckDBPyConnection, structure: str) -> None:
        con.execute("create schema if not exists raw_ga4")
        con.execute(
            f"""create table if not exists {_GA4_EVENTS} as
            select unnest(json_transform('{{}}', '{structure}')),
                   date '2000-01-01' as export_date, now() as _loaded_at
            limit 0"""
        )
        con.execute(
            f"""create table if not exists {_GA4_QUARANTINE} (
                export_date date, source_file varchar, line_number bigint,
                reason varchar, raw_record varchar, _loaded_at timestamptz)"""
        )

    @staticmethod
    def _stage_ga4(con, files: dict[date, list[Path]], structure: str) -> None:
        """Every line of these days' files, numbered, parsed and judged, in one set-based pass."""
        names = [(str(path), day) for day, paths in files.items() for path in paths]
        con.execute("create or replace temp table ga4_files (filename varchar, export_date date)")
        con.executemany("insert into ga4_files values (?, ?)", names)
        con.execute(
            f"""create or replace temp table ga4_window as
            with numbered as (
                select filename as source_file, export_date,
                       unnest(string_split(content, chr(10))) as line,
                       generate_subscripts(string_split(content, chr(10)), 1) as line_number
                from read_text(?)
                join ga4_files using (filename)
            ), parsed as (
                select source_file, line_number, line, export_date,
                       case when json_valid(line) then json_transform(line, '{structure}') end as r
                from numbered
                where trim(line) <> ''
            )
            select *, {_ga4_reason_sql()} as reason from parsed""",
            [[name for name, _ in names]],
        )

    @staticmethod
    def _insert_ga4(con, stats: Ga4LoadStats) -> None:
        """The staged days' usable rows, exact duplicates dropped, and their quarantine."""
        now = con.execute("select get_current_timestamp()").fetchone()[0]
        con.execute(
            f"""insert into {_GA4_EVENTS}
            select unnest(r), export_date, ?
            from (select distinct r, export_date from ga4_window where reason is null)""",
            [now],
        )
        con.execute(
            f"""insert into {_GA4_QUARANTINE}
            select export_date, source_file, line_number, reason, line, ?
            from ga4_window where reason is not null""",
            [now],
        )
        for day, rows in con.execute(
            f"""select export_date, count(*) from {_GA4_EVENTS}
            where export_date in (select export_date from ga4_files) group by 1"""
        ).fetchall():
            stats.rows += rows
            stats.duplicates -= rows
            stats.rows_by_day[day.isoformat()] = rows
        for reason, count in con.execute(
            "select split_part(reason, ':', 1), count(*) from ga4_window "
            "where reason is not null group by 1"
        ).fetchall():
            stats.quarantined[reason] += count
        keys = [
            key
            for (key,) in con.execute(
                "select distinct unnest(json_keys(line)) from ga4_window where reason is null"
            ).fetchall()
            if _PLAIN_KEY.fullmatch(key)  # a key that could not be a JSON path is not typed
        ]
        paths = ", ".join(f"'$.{key}'" for key in keys)
        for name, kind in con.execute(
            _GA4_SCHEMA_SQL.format(paths=f"[{paths}]" if keys else "[]::varchar[]"), [keys]
        ).fetchall():
            stats.schema[name] = "|".join(
                sorted({*stats.schema.get(name, "").split("|"), kind} - {""})
            )

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


def _ga4_chunks(files: dict[date, list[Path]]) -> Iterator[dict[date, list[Path]]]:
    """Consecutive days whose files add up to about _GA4_CHUNK_BYTES (at least one day)."""
    chunk: dict[date, list[Path]] = {}
    size = 0
    for day, paths in files.items():
        day_size = sum(path.stat().st_size for path in paths)
        if chunk and size + day_size > _GA4_CHUNK_BYTES:
            yield chunk
            chunk, size = {}, 0
        chunk[day] = paths
        size += day_size
    if chunk:
        yield chunk


def _empty_page() -> str:
    columns = ", ".join(
        f"null::{'timestamptz' if pa.types.is_timestamp(f.type) else 'varchar'} as {f.name}"
        for f in PAGE_SCHEMA
    )
    return f"(select {columns} limit 0)"
