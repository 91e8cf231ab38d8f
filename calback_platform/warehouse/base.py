"""What every layer needs of the warehouse, DuckDB locally or BigQuery in prod: run a query,
read a frame, replace a table, show a preview. Each source's loaders (`calback_platform/ingest`)
write through the concrete warehouse of their kind."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date
from typing import ClassVar

import dagster as dg
import pandas as pd
import pyarrow as pa


def typed_frame(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """`frame`'s columns of `schema`, typed by it (Arrow-backed), so that a table written from
    it has those types on either warehouse, even when it has no rows (dates stay DATE)."""
    columns = frame.reindex(columns=schema.names).astype(object)  # a missing column: nulls
    table = pa.Table.from_pandas(columns, schema=schema, preserve_index=False)
    return table.to_pandas(types_mapper=pd.ArrowDtype)


class Warehouse(dg.ConfigurableResource, ABC):
    # Its name in asset kinds (the Dagster UI's icons) and in dbt's adapter.
    kind: ClassVar[str]
    # The column type of each Arrow type the raw tables use.
    column_types: ClassVar[dict[pa.DataType, str]]

    @abstractmethod
    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        """Run a read-only query and return its rows (checks, metadata, tests)."""

    @abstractmethod
    def query_frame(self, sql: str) -> pd.DataFrame:
        """Run a read-only query and return its result as a DataFrame."""

    @abstractmethod
    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        """Replace `schema.table` with `frame` in one transaction; returns the row count."""

    @abstractmethod
    def replace_rows(
        self, table: str, frame: pd.DataFrame, date_column: str, first: date, last: date
    ) -> int:
        """Replace the rows of `schema.table` whose `date_column` is in [first, last] with
        `frame`, in one transaction (the table is created from `frame` if missing): a
        partitioned asset's write, safe to re-run. Returns the rows written."""

    @abstractmethod
    def has_table(self, table: str) -> bool:
        """Whether `schema.table` exists (a source that never landed has none)."""

    def preview(self, sql: str) -> dg.MetadataValue:
        """A query's first rows as Markdown, for asset metadata."""
        frame = self.query_frame(sql)
        return dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "(no rows)")

    @classmethod
    def columns_sql(cls, schema: pa.Schema) -> str:
        """A table's column list for CREATE TABLE, from the Arrow schema that defines it."""
        return ", ".join(f"{f.name} {cls.column_types[f.type]}" for f in schema)
