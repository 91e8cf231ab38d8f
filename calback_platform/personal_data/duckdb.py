"""Personal data in the local DuckDB warehouse."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from calback_platform.personal_data.store import (
    PLAIN_PERSONAL_DATA,
    PersonalData,
    PersonalDataStore,
    removed_fields_sql,
)
from calback_platform.warehouse.duckdb import DuckDBWarehouse


class DuckDBPersonalData(PersonalDataStore):
    warehouse: DuckDBWarehouse

    def purge(self, personal: PersonalData, before: datetime) -> dict[str, int]:

        def without(column: str) -> str:
            return f"{removed_fields_sql(column, personal.fields)}::varchar"

        def holds(column: str) -> str:
            return " or ".join(
                f"""json_exists({column}, '$."{field}"')""" for field in personal.fields
            )

        changed = {}
        with self.warehouse.connect() as con:
            if not self.warehouse.exists(con, personal.tables.changelog):
                return changed
            con.execute("begin transaction")
            con.execute(
                f"""create or replace temp table purged as
                select document_name, document_id from {personal.tables.latest}
                where operation = 'DELETE' and timestamp < ?""",
                [before],
            )
            changed[personal.tables.changelog] = con.execute(
                f"""update {personal.tables.changelog}
                set data = {without("data")}, old_data = {without("old_data")}
                where document_name in (select document_name from purged)
                  and ({holds("data")} or {holds("old_data")})"""
            ).fetchone()[0]
            changed[personal.tables.quarantine] = con.execute(
                f"""update {personal.tables.quarantine} set raw_record = null
                where _loaded_at < ? and raw_record is not null""",
                [before],
            ).fetchone()[0]
            for table, key, columns in personal.copies:
                if self.warehouse.exists(con, table):
                    changed[table] = con.execute(
                        f"""update {table} set {", ".join(f"{c} = null" for c in columns)}
                        where {key} in (select document_id from purged)
                          and ({" or ".join(f"{c} is not null" for c in columns)})"""
                    ).fetchone()[0]
            con.execute("commit")
        return changed

    def find_plain(self, allowed: set[str]) -> list[tuple[str, str, int]]:
        found = []
        with self.warehouse.connect() as con:
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
