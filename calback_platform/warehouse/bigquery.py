"""The production warehouse: BigQuery, through dagster-gcp's `BigQueryResource`.

Data never passes through Python row by row: GA4 days are built by a query job over the export
dataset, Firestore pages are streamed into a staging table by load jobs. Each write then lands in
one multi-statement transaction, so a window is replaced atomically, a failed run leaves the old
data, and a re-run replaces the same window again. Every statement on a partitioned table filters
on its partition column, so a day's run scans that day, not the history.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster_gcp import BigQueryResource
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from calback_platform.warehouse.base import Warehouse

# Staging tables outlive a killed run by a day at most.
STAGE_OPTIONS = (
    "options (expiration_timestamp = timestamp_add(current_timestamp(), interval 1 day))"
)
_PARAMETER_TYPES = {bool: "BOOL", int: "INT64", float: "FLOAT64", str: "STRING"}


def query_parameter(value: object, name: str | None = None) -> bigquery.ScalarQueryParameter:
    """A parameter (positional `?` without a name) typed like DuckDB would take the value."""
    if isinstance(value, datetime):
        kind = "TIMESTAMP"
    elif isinstance(value, date):
        kind = "DATE"
    else:
        kind = _PARAMETER_TYPES[type(value)]
    return bigquery.ScalarQueryParameter(name, kind, value)


class BigQueryWarehouse(Warehouse):
    """Raw tables go to datasets `raw_ga4` and `raw_firestore` of the project, next to the
    datasets dbt builds (`staging`, `intermediate`, `marts`, `snapshots`)."""

    kind: ClassVar[str] = "bigquery"
    column_types: ClassVar[dict[pa.DataType, str]] = {
        pa.string(): "string",
        pa.timestamp("us", tz="UTC"): "timestamp",
        pa.date32(): "date",
        pa.int64(): "int64",
        pa.binary(): "bytes",
    }

    bigquery: BigQueryResource
    # Rows per Firestore load job: bounds the local spill file and the number of jobs alike.
    rows_per_load: int = 1_000_000

    @contextmanager
    def client(self) -> Iterator[bigquery.Client]:
        with self.bigquery.get_client() as client:
            yield client

    def table(self, name: str) -> str:
        return f"{self.bigquery.project}.{name}"

    def ensure_dataset(self, client: bigquery.Client, dataset: str) -> None:
        reference = bigquery.Dataset(self.table(dataset))
        reference.location = self.bigquery.location
        client.create_dataset(reference, exists_ok=True)

    @staticmethod
    def run(
        client: bigquery.Client, sql: str, positional: Iterable = (), **named: object
    ) -> list[tuple]:
        """A query job's rows: `positional` values fill `?`, `named` ones fill `@name`."""
        config = bigquery.QueryJobConfig(
            query_parameters=[query_parameter(value) for value in positional]
            + [query_parameter(value, name) for name, value in named.items()],
            labels={"app": "calback"},
        )
        return [tuple(row.values()) for row in client.query(sql, job_config=config).result()]

    @staticmethod
    def stage_name(dataset: str, what: str) -> str:
        return f"{dataset}._stage_{what}_{uuid.uuid4().hex[:12]}"

    @classmethod
    def api_schema(cls, schema: pa.Schema) -> list[bigquery.SchemaField]:
        return [bigquery.SchemaField(f.name, cls.column_types[f.type].upper()) for f in schema]

    @staticmethod
    def exists(client: bigquery.Client, table: str) -> bool:
        try:
            client.get_table(table)
        except NotFound:
            return False
        return True

    def load_pages(
        self,
        client: bigquery.Client,
        stage: str,
        schema: pa.Schema,
        pages: Iterable[pa.RecordBatch],
    ) -> None:
        """Stream pages into `stage` through Parquet spill files, one load job per
        `rows_per_load` rows: memory holds one page, BigQuery sees a few large loads."""
        table = bigquery.Table(stage, schema=self.api_schema(schema))
        table.expires = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
        client.create_table(table, exists_ok=False)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            schema=table.schema,
        )
        pages = iter(pages)
        while True:
            with tempfile.TemporaryFile() as spill:
                rows = 0
                with pq.ParquetWriter(spill, schema) as writer:
                    for page in pages:
                        writer.write_batch(page)
                        rows += page.num_rows
                        if rows >= self.rows_per_load:
                            break
                if not rows:
                    return
                spill.seek(0)
                client.load_table_from_file(spill, stage, job_config=config).result()

    def has_table(self, table: str) -> bool:
        with self.client() as client:
            return self.exists(client, self.table(table))

    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        with self.client() as client:
            return self.run(client, sql, parameters or ())

    def query_frame(self, sql: str) -> pd.DataFrame:
        with self.client() as client:
            return client.query(sql).result().to_arrow().to_pandas()

    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        config = bigquery.LoadJobConfig(write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE)
        with self.client() as client:
            self.ensure_dataset(client, table.split(".")[0])
            # One load job with WRITE_TRUNCATE swaps the table's contents atomically.
            client.load_table_from_dataframe(frame, self.table(table), job_config=config).result()
        return len(frame)

    def replace_rows(
        self, table: str, frame: pd.DataFrame, date_column: str, first: date, last: date
    ) -> int:
        dataset, name = table.split(".")
        stage = self.table(self.stage_name(dataset, name))
        with self.client() as client:
            self.ensure_dataset(client, dataset)
            client.load_table_from_dataframe(frame, stage).result()
            try:
                # DDL cannot run inside a transaction: the table exists before it starts.
                self.run(
                    client,
                    f"create table if not exists `{self.table(table)}` "
                    f"as select * from `{stage}` limit 0",
                )
                self.run(
                    client,
                    f"""begin transaction;
                    delete from `{self.table(table)}`
                    where {date_column} between @first and @last;
                    insert into `{self.table(table)}` select * from `{stage}`;
                    commit transaction;""",
                    first=first,
                    last=last,
                )
            finally:
                client.delete_table(stage, not_found_ok=True)
        return len(frame)
