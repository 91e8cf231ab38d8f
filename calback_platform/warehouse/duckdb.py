"""The local warehouse: one DuckDB file, written through `dagster-duckdb`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import ClassVar

import duckdb
import pandas as pd
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from calback_platform.warehouse.base import Warehouse


class DuckDBWarehouse(Warehouse):
    """DuckDB allows one writer: assets that use it share a Dagster pool (see definitions)."""

    kind: ClassVar[str] = "duckdb"
    column_types: ClassVar[dict[pa.DataType, str]] = {
        pa.string(): "varchar",
        pa.timestamp("us", tz="UTC"): "timestamptz",
        pa.date32(): "date",
        pa.int64(): "bigint",
        pa.binary(): "blob",
    }

    path: str
    # DuckDB would otherwise cache up to 80% of RAM; past this it spills to disk instead, so a
    # load's memory stays flat however large the collection or the window.
    memory_limit: str = "192MB"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Rows carry their own order (line numbers, timestamps): DuckDB need not keep it.
        config = {"memory_limit": self.memory_limit, "preserve_insertion_order": False}
        with DuckDBResource(database=self.path, connection_config=config).get_connection() as con:
            try:
                yield con
            finally:  # DuckDBResource closes it only when no error came through
                con.close()

    @staticmethod
    def exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
        schema, name = table.split(".")
        return con.execute(
            "select count(*) > 0 from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]

    def has_table(self, table: str) -> bool:
        with self.connect() as con:
            return self.exists(con, table)

    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        with self.connect() as con:
            return con.execute(sql, parameters or []).fetchall()

    def query_frame(self, sql: str) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(sql).df()

    def copy_tables(self, tables: tuple[str, ...], path: Path, storage_version: str) -> dict:
        """Copy tables into a DuckDB file of their own, written in `storage_version` for readers
        on an older DuckDB, and renamed into place whole; their row counts."""
        staging = path.with_name(f".{path.name}.partial")
        staging.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        counts = {}
        with self.connect() as con:
            con.execute(f"attach '{staging}' as copy (storage_version '{storage_version}')")
            try:
                for table in tables:
                    con.execute(f"create schema if not exists copy.{table.split('.')[0]}")
                    con.execute(f"create table copy.{table} as select * from {table}")
                    counts[table] = con.execute(f"select count(*) from copy.{table}").fetchone()[0]
            finally:
                con.execute("detach copy")
        staging.replace(path)
        return counts

    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        schema = table.split(".")[0]
        with self.connect() as con:
            con.execute(f"create schema if not exists {schema}")
            con.execute("begin transaction")
            con.execute(f"create or replace table {table} as select * from frame")
            con.execute("commit")
        return len(frame)

    def replace_rows(
        self, table: str, frame: pd.DataFrame, date_column: str, first: date, last: date
    ) -> int:
        with self.connect() as con:
            con.execute(f"create schema if not exists {table.split('.')[0]}")
            con.execute("begin transaction")
            con.execute(f"create table if not exists {table} as select * from frame limit 0")
            con.execute(f"delete from {table} where {date_column} between ? and ?", [first, last])
            con.execute(f"insert into {table} by name select * from frame")
            con.execute("commit")
        return len(frame)
