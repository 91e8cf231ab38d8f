"""A stand-in for `google.cloud.bigquery.Client` that keeps every job it is given and runs the
job's SQL on DuckDB, translated by sqlglot, so tests can assert both the exact jobs the BigQuery
warehouse submits and what they do to the data.

It is not BigQuery: it understands the statements the warehouse writes (scripts with DECLARE,
transactions, wildcard tables with `_table_suffix`, named and positional parameters) and a few
BigQuery functions DuckDB lacks, defined as macros below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import duckdb
import pyarrow.parquet as pq
import sqlglot
from google.api_core.exceptions import NotFound
from google.cloud import bigquery
from sqlglot import exp

_MACROS = [
    "create macro farm_fingerprint(s) as (hash(s) % 9223372036854775807)::bigint",
    "create macro to_json_string(v) as to_json(v)::varchar",
    "create macro json_keys_at_depth(j, depth) as json_keys(j)",
    "create macro j_s_o_n_keys_at_depth(j, depth) as json_keys(j)",
]
_DUCKDB_TYPES = {"STRING": "varchar", "TIMESTAMP": "timestamptz", "DATE": "date", "INT64": "bigint"}


_API_TYPES = {
    exp.DataType.Type.VARCHAR: "STRING",
    exp.DataType.Type.TEXT: "STRING",
    exp.DataType.Type.BIGINT: "INTEGER",
    exp.DataType.Type.INT: "INTEGER",
    exp.DataType.Type.DOUBLE: "FLOAT",
    exp.DataType.Type.BOOLEAN: "BOOLEAN",
    exp.DataType.Type.DATE: "DATE",
    exp.DataType.Type.TIMESTAMPTZ: "TIMESTAMP",
    exp.DataType.Type.JSON: "JSON",
    exp.DataType.Type.BLOB: "BYTES",
}


def _schema_field(name: str, kind: str | exp.DataType) -> bigquery.SchemaField:
    """A DuckDB column type as the BigQuery API describes a field: nested, with its mode."""
    kind = exp.DataType.build(kind, dialect="duckdb") if isinstance(kind, str) else kind
    mode = "NULLABLE"
    if kind.is_type(exp.DataType.Type.ARRAY):
        mode, kind = "REPEATED", kind.expressions[0]
    if kind.is_type(exp.DataType.Type.STRUCT):
        children = [_schema_field(c.name, c.args["kind"]) for c in kind.expressions]
        return bigquery.SchemaField(name, "RECORD", mode=mode, fields=children)
    return bigquery.SchemaField(name, _API_TYPES[kind.this], mode=mode)


def _name(*parts: str) -> str:
    return ".".join(f'"{part}"' for part in parts)


@dataclass
class Job:
    kind: str  # query | load
    sql: str | None = None
    destination: str | None = None
    config: object = None
    rows_loaded: int = 0
    parameters: dict = field(default_factory=dict)

    def result(self):
        return self

    def __iter__(self):
        return iter(self._rows)

    _rows: list = field(default_factory=list)
    _names: list = field(default_factory=list)

    def to_arrow(self):
        import pyarrow as pa

        return pa.table(
            {name: [row[i] for row in self._rows] for i, name in enumerate(self._names)}
        )


class DuckDBBackedBigQuery:
    def __init__(self, project: str):
        self.project = project
        self.jobs: list[Job] = []
        self.calls: list[tuple] = []  # non-job API calls: datasets and tables
        self.con = duckdb.connect()
        self.con.execute(f"attach ':memory:' as \"{project}\"")
        self.con.execute(f'use "{project}"')  # unqualified `dataset.table` is the project's
        for macro in _MACROS:
            self.con.execute(macro)

    # --- datasets and tables ------------------------------------------------------------------
    def _split(self, name: str) -> tuple[str, str, str]:
        parts = str(name).replace("`", "").split(".")
        return tuple(parts) if len(parts) == 3 else (self.project, *parts)

    def _exists(self, name: str) -> bool:
        catalog, schema, table = self._split(name)
        return bool(
            self.con.execute(
                "select count(*) from information_schema.tables "
                "where table_catalog = ? and table_schema = ? and table_name = ?",
                [catalog, schema, table],
            ).fetchone()[0]
        )

    def create_dataset(self, dataset: bigquery.Dataset, exists_ok: bool = False):
        self.calls.append(("create_dataset", dataset.dataset_id, dataset.location))
        self.con.execute(
            f"create schema if not exists {_name(dataset.project, dataset.dataset_id)}"
        )

    def list_datasets(self, project: str):
        rows = self.con.execute(
            "select schema_name from information_schema.schemata where catalog_name = ? "
            "and schema_name not in ('main', 'information_schema', 'pg_catalog')",
            [project],
        ).fetchall()
        return [SimpleNamespace(dataset_id=name) for (name,) in rows]

    def list_tables(self, dataset: str):
        catalog, schema = str(dataset).split(".")
        self.calls.append(("list_tables", dataset))
        rows = self.con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = ? and table_schema = ?",
            [catalog, schema],
        ).fetchall()
        return [SimpleNamespace(table_id=name) for (name,) in rows]

    def get_table(self, name: str):
        self.calls.append(("get_table", str(name)))
        if not self._exists(name):
            raise NotFound(f"Not found: Table {name}")
        catalog, schema, table = self._split(name)
        columns = self.con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = ? and table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [catalog, schema, table],
        ).fetchall()
        return SimpleNamespace(schema=[_schema_field(name, kind) for name, kind in columns])

    def create_table(self, table: bigquery.Table, exists_ok: bool = False):
        self.calls.append(("create_table", table.table_id, table.expires is not None))
        columns = ", ".join(f"{f.name} {_DUCKDB_TYPES[f.field_type]}" for f in table.schema)
        self.con.execute(
            f"create table {_name(table.project, table.dataset_id, table.table_id)} ({columns})"
        )

    def delete_table(self, name: str, not_found_ok: bool = False):
        self.calls.append(("delete_table", str(name)))
        catalog, schema, table = self._split(name)
        self.con.execute(f"drop table if exists {_name(catalog, schema, table)}")

    # --- jobs ----------------------------------------------------------------------------------
    def load_table_from_file(self, file, destination: str, job_config=None) -> Job:
        data = pq.read_table(file)
        catalog, schema, table = self._split(destination)
        self.con.register("loaded", data)
        self.con.execute(f"insert into {_name(catalog, schema, table)} by name from loaded")
        self.con.unregister("loaded")
        job = Job("load", destination=str(destination), config=job_config, rows_loaded=len(data))
        self.jobs.append(job)
        return job

    def load_table_from_dataframe(self, frame, destination: str, job_config=None) -> Job:
        catalog, schema, table = self._split(destination)
        self.con.execute(f"create or replace table {_name(catalog, schema, table)} as from frame")
        job = Job("load", destination=str(destination), config=job_config, rows_loaded=len(frame))
        self.jobs.append(job)
        return job

    def query(self, sql: str, job_config: bigquery.QueryJobConfig | None = None) -> Job:
        parameters = list(job_config.query_parameters) if job_config else []
        job = Job(
            "query",
            sql=sql,
            config=job_config,
            parameters={p.name: p.value for p in parameters if p.name},
        )
        self.jobs.append(job)
        in_transaction = False
        try:
            variables: dict[str, object] = {}
            positional = [p.value for p in parameters if not p.name]
            for statement in sqlglot.parse(sql, read="bigquery"):
                if isinstance(statement, exp.Declare):
                    item = statement.expressions[0]
                    variables[item.this[0].name] = self.con.execute(
                        "select " + item.args["default"].sql(dialect="duckdb")
                    ).fetchone()[0]
                    continue
                statement = self._bind(statement, job.parameters, positional, variables)
                self._create_wildcard_views(statement)
                result = self.con.execute(statement.sql(dialect="duckdb"))
                in_transaction = isinstance(statement, exp.Transaction) or (
                    in_transaction and not isinstance(statement, exp.Commit)
                )
                if isinstance(statement, exp.Select | exp.Union):
                    job._names = [d[0] for d in result.description]
                    index = {name: i for i, name in enumerate(job._names)}
                    job._rows = [bigquery.Row(row, index) for row in result.fetchall()]
        except duckdb.Error:
            if in_transaction:  # a failed script rolls its transaction back
                self.con.execute("rollback")
            raise
        finally:
            # A script's temporary tables die with it, as in BigQuery.
            temporary = "select table_name from duckdb_tables() where temporary"
            for (name,) in self.con.execute(temporary).fetchall():
                self.con.execute(f'drop table temp.main."{name}"')
        return job

    @staticmethod
    def _bind(statement, named: dict, positional: list, variables: dict):
        positional = iter(positional)

        def replace(node):
            if isinstance(node, exp.Parameter):
                return exp.convert(named[node.this.name])
            if isinstance(node, exp.Placeholder):
                return exp.convert(next(positional))
            if isinstance(node, exp.Column) and not node.table and node.name in variables:
                return exp.convert(variables[node.name])
            if isinstance(node, exp.Properties):
                # Partitioning, clustering and options mean nothing here; TEMP does.
                kept = [p for p in node.expressions if isinstance(p, exp.TemporaryProperty)]
                return exp.Properties(expressions=kept) if kept else None
            return node

        return statement.transform(replace)

    def _create_wildcard_views(self, statement) -> None:
        """`dataset.events_*` as a view over its tables, with `_table_suffix` as BigQuery has."""
        for table in statement.find_all(exp.Table):
            if not table.name.endswith("*"):
                continue
            prefix = table.name[:-1]
            catalog, schema = table.catalog or self.project, table.db
            names = [
                t.table_id
                for t in self.list_tables(f"{catalog}.{schema}")
                if t.table_id.startswith(prefix) and "*" not in t.table_id
            ]
            self.calls.pop()  # the listing is the fake's own, not the warehouse's
            union = " union all by name ".join(
                f"select *, '{name[len(prefix) :]}' as _table_suffix "
                f"from {_name(catalog, schema, name)}"
                for name in names
            )
            view = _name(catalog, schema, table.name)
            self.con.execute(f"create or replace view {view} as {union}")
