"""Personal data in BigQuery."""

from __future__ import annotations

from datetime import datetime

from calback_platform.personal_data.store import (
    PLAIN_PERSONAL_DATA,
    PersonalData,
    PersonalDataStore,
    removed_fields_sql,
)
from calback_platform.warehouse.bigquery import BigQueryWarehouse


class BigQueryPersonalData(PersonalDataStore):
    warehouse: BigQueryWarehouse

    def purge(self, personal: PersonalData, before: datetime) -> dict[str, int]:
        changelog = self.warehouse.table(personal.tables.changelog)
        with self.warehouse.client() as client:
            if not self.warehouse.exists(client, changelog):
                return {}

            def holds(column: str) -> str:
                return " or ".join(
                    f"json_query({column}, '$.\"{field}\"') is not null"
                    for field in personal.fields
                )

            def without(column: str) -> str:
                removed = removed_fields_sql(f"parse_json({column})", personal.fields)
                return f"to_json_string({removed})"

            purged = f"""(select document_name, document_id
                from `{self.warehouse.table(personal.tables.latest)}`
                where operation = 'DELETE' and timestamp < @before)"""
            # (table, the rows to purge, what to set on them)
            targets = [
                (
                    personal.tables.changelog,
                    f"""document_name in (select document_name from {purged})
                    and ({holds("data")} or {holds("old_data")})""",
                    f"data = {without('data')}, old_data = {without('old_data')}",
                ),
                (
                    personal.tables.quarantine,
                    "_loaded_at < @before and raw_record is not null",
                    "raw_record = null",
                ),
                *(
                    (
                        table,
                        f"""{key} in (select document_id from {purged})
                        and ({" or ".join(f"{c} is not null" for c in columns)})""",
                        ", ".join(f"{c} = null" for c in columns),
                    )
                    for table, key, columns in personal.copies
                    if self.warehouse.exists(client, self.warehouse.table(table))
                ),
            ]
            # Counted first, then changed in one transaction: the purge is these rows' only
            # writer, and a BigQuery script returns only its last statement's rows.
            counts = self.warehouse.run(
                client,
                "select "
                + ", ".join(
                    f"(select count(*) from `{self.warehouse.table(table)}` where {rows})"
                    for table, rows, _ in targets
                ),
                before=before,
            )[0]
            updates = "\n".join(
                f"update `{self.warehouse.table(table)}` set {change} where {rows};"
                for table, rows, change in targets
            )
            self.warehouse.run(
                client, f"begin transaction;\n{updates}\ncommit transaction;", before=before
            )
        return {table: count for (table, _, _), count in zip(targets, counts, strict=True)}

    def find_plain(self, allowed: set[str]) -> list[tuple[str, str, int]]:
        found = []
        with self.warehouse.client() as client:
            for dataset in client.list_datasets(self.warehouse.bigquery.project):
                if dataset.dataset_id == "raw_ga4":
                    continue
                for item in client.list_tables(self.warehouse.table(dataset.dataset_id)):
                    table = f"{dataset.dataset_id}.{item.table_id}"
                    if table in allowed or item.table_id.startswith("_stage"):
                        continue
                    texts = [
                        f.name
                        for f in client.get_table(self.warehouse.table(table)).schema
                        if f.field_type in ("STRING", "JSON")
                    ]
                    if not texts:
                        continue
                    counts = ", ".join(
                        "countif("
                        + " or ".join(
                            f"regexp_contains(to_json_string(`{name}`), @{kind})" for name in texts
                        )
                        + ")"
                        for kind in PLAIN_PERSONAL_DATA
                    )
                    (rows,) = self.warehouse.run(
                        client,
                        f"select {counts} from `{self.warehouse.table(table)}`",
                        **PLAIN_PERSONAL_DATA,
                    )
                    found += [
                        (table, kind, n)
                        for kind, n in zip(PLAIN_PERSONAL_DATA, rows, strict=True)
                        if n
                    ]
        return found
