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
from datetime import date, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster_gcp import BigQueryResource
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from calback_platform.resources.firestore_source import PAGE_SCHEMA
from calback_platform.resources.ga4_schema import (
    BOOLEAN,
    FLOAT64,
    GA4_EXPORT_SCHEMA,
    GA4_REQUIRED_FIELDS,
    INT64,
    STRING,
    UNKNOWN_FIELDS,
    bigquery_type,
    read_shape,
)
from calback_platform.resources.ga4_source import BigQueryGA4Export, GA4Export
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

# Staging tables outlive a killed run by a day at most.
_STAGE_OPTIONS = (
    "options (expiration_timestamp = timestamp_add(current_timestamp(), interval 1 day))"
)
_GA4_COLUMNS = ", ".join(GA4_EXPORT_SCHEMA)
_PARAMETER_TYPES = {bool: "BOOL", int: "INT64", float: "FLOAT64", str: "STRING"}
# The export's field types as the BigQuery API names them, in the schema's terms.
_API_TYPES = {"INTEGER": INT64, "FLOAT": FLOAT64, "BOOL": BOOLEAN}


def export_node(field: bigquery.SchemaField):
    """An export table's field in the terms of GA4_EXPORT_SCHEMA (dict, list or type name)."""
    if field.field_type in ("RECORD", "STRUCT"):
        node = {child.name: export_node(child) for child in field.fields}
    else:
        node = _API_TYPES.get(field.field_type, field.field_type)
    return [node] if field.mode == "REPEATED" else node


def ga4_projection(export: dict) -> tuple[list[str], list[str]]:
    """The select list that gives an export table (`export`: its fields, as export_node gives
    them) the raw table's columns, and the top-level fields that hold something the schema does
    not know (to keep in `_unknown_fields`). A field the export lacks (an older export) is
    NULL; a record or array lacking some of its fields is rebuilt with them as NULL."""
    columns = [
        f"{_project(name, known, export.get(name))} as {name}"
        for name, known in GA4_EXPORT_SCHEMA.items()
    ]
    unknown = [
        name for name, node in export.items() if _holds_unknown(node, GA4_EXPORT_SCHEMA.get(name))
    ]
    return columns, unknown


def _holds_unknown(node, known) -> bool:
    if known is None:
        return True
    if isinstance(node, list) and isinstance(known, list):
        return _holds_unknown(node[0], known[0])
    if isinstance(node, dict) and isinstance(known, dict):
        return any(_holds_unknown(child, known.get(name)) for name, child in node.items())
    return False


def _project(expression: str, known, actual) -> str:
    if actual is None:
        return f"cast(null as {bigquery_type(known)})"
    if actual == known:
        return expression
    if isinstance(known, list) and isinstance(actual, list):
        element = _project("element", known[0], actual[0])
        return (
            f"array(select {element} from unnest({expression}) as element "
            "with offset as position order by position)"
        )
    if isinstance(known, dict) and isinstance(actual, dict):
        fields = ", ".join(
            f"{_project(f'{expression}.{name}', child, actual.get(name))} as {name}"
            for name, child in known.items()
        )
        return f"if({expression} is null, null, struct({fields}))"
    return f"safe_cast({expression} as {bigquery_type(known)})"


def _ga4_reason_sql() -> str:
    """Why an exported row is unusable (NULL when it is fine). The export is typed, so unlike
    the local files only missing fields and a wrong day can occur."""
    checks = []
    for name in GA4_REQUIRED_FIELDS:
        empty = " or {0} = ''" if GA4_EXPORT_SCHEMA[name] == STRING else ""
        checks.append(f"when {name} is null{empty.format(name)} then 'missing {name}'")
    checks.append(
        "when event_date <> format_date('%Y%m%d', export_date) "
        "then concat('event_date ', event_date, ' is not the export day')"
    )
    return "case " + " ".join(checks) + " end"


def ga4_stage_sql(
    stage: str, export: BigQueryGA4Export, tables: dict[date, str], fields: dict
) -> str:
    """The window's export rows in the raw table's columns, with a reason (NULL when usable), a
    fingerprint of the whole exported row for exact duplicates, and what the schema does not
    know. Literal `_table_suffix` lists let BigQuery read only those days' tables."""
    columns, unknown = ga4_projection(fields)
    exported = ", ".join(fields)
    kept = (
        f"if(coalesce({', '.join(f'to_json_string({name})' for name in unknown)}) is null, null, "
        f"to_json(struct({', '.join(unknown)})))"
        if unknown
        else "cast(null as json)"
    )
    selects = []
    for prefix in ("events_", "events_intraday_"):
        suffixes = [
            f"'{day:%Y%m%d}'" for day, name in tables.items() if name == f"{prefix}{day:%Y%m%d}"
        ]
        if suffixes:
            selects.append(
                f"select {', '.join(columns)}, {kept} as {UNKNOWN_FIELDS}, "
                f"farm_fingerprint(to_json_string(struct({exported}))) as row_fingerprint, "
                f"left(to_json_string(struct({exported})), 100000) as raw_record, "
                f"parse_date('%Y%m%d', _table_suffix) as export_date, "
                f"concat('{prefix}', _table_suffix) as source_table "
                f"from `{export.project}.{export.dataset}.{prefix}*` "
                f"where _table_suffix in ({', '.join(suffixes)})"
            )
    union = "\n        union all\n        ".join(selects)
    return f"""create or replace table `{stage}`
    {_STAGE_OPTIONS} as
    with exported as (
        {union}
    )
    select * except (raw_record), {_ga4_reason_sql()} as reason,
        if({_ga4_reason_sql()} is null, null, raw_record) as raw_record
    from exported"""


def ga4_replace_sql(events: str, quarantine: str, stage: str) -> str:
    """Replace the window (@first_day..@last_day) of events and quarantine in one transaction."""
    columns = ", ".join(
        f"`{name}` {bigquery_type(node)}" for name, node in GA4_EXPORT_SCHEMA.items()
    )
    landed = f"{_GA4_COLUMNS}, {UNKNOWN_FIELDS}, export_date"
    return f"""create table if not exists `{events}` (
        {columns}, {UNKNOWN_FIELDS} json, export_date date, _loaded_at timestamp)
    partition by export_date
    cluster by event_name, user_pseudo_id;
    create table if not exists `{quarantine}` (
        export_date date, source_file string, line_number int64, reason string,
        raw_record string, raw_bytes bytes, _loaded_at timestamp)
    partition by export_date;
    begin transaction;
    delete from `{events}` where export_date between @first_day and @last_day;
    insert into `{events}` ({landed}, _loaded_at)
    select {landed}, current_timestamp()
    from `{stage}`
    where reason is null
    qualify row_number() over (partition by export_date, row_fingerprint) = 1;
    delete from `{quarantine}` where export_date between @first_day and @last_day;
    insert into `{quarantine}`
    select export_date, source_table, null, reason, raw_record, null, current_timestamp()
    from `{stage}` where reason is not null;
    commit transaction;"""


def _ga4_stats_sql(stage: str) -> str:
    return f"""select export_date, count(*) as lines, countif(reason is null) as usable,
        count(distinct if(reason is null, row_fingerprint, null)) as events,
        count(distinct if(reason is null and user_pseudo_id is null, row_fingerprint, null))
            as cookieless
    from `{stage}` group by export_date order by export_date"""


def _ga4_schema_sql(stage: str) -> str:
    """Event names and parameter value types, for the schema-drift check."""
    return f"""select concat('event:', event_name) as name, 'event' as kinds
    from `{stage}` where reason is null group by event_name
    union all
    select concat('param:', key), string_agg(distinct kind, '|' order by kind)
    from (
        select p.key,
            case when p.value.string_value is not null then 'string'
                 when p.value.int_value is not null then 'int'
                 when coalesce(p.value.double_value, p.value.float_value) is not null
                     then 'double'
                 else 'null' end as kind
        from `{stage}`, unnest(event_params) as p
        where reason is null
    )
    group by key"""


def firestore_apply_sql(
    changelog: str, quarantine: str, incoming: str, present: str, full_read: bool
) -> str:
    """The DuckDB warehouse's change detection in BigQuery, in one transaction; the script's
    last statement returns the change counts by operation."""
    quarantine_scope = (
        "true"  # a full read speaks for every record
        if full_read
        else f"record_ref in (select record_ref from `{incoming}` where error is not null)"
    )
    return f"""declare loaded_at timestamp default current_timestamp();
    create table if not exists `{changelog}` (
        timestamp timestamp, event_id string, document_name string, operation string,
        data string, old_data string, document_id string, _loaded_at timestamp)
    partition by date(_loaded_at)
    cluster by document_name;
    create table if not exists `{quarantine}` (
        record_ref string, reason string, raw_record string, _loaded_at timestamp);
    begin transaction;
    create temp table latest as {latest_versions_sql(f"`{changelog}`")};
    create temp table changes as
    with incoming_documents as (
        select * from `{incoming}`
        where error is null
        qualify row_number() over (partition by document_name order by record_ref) = 1
    )
    select coalesce(i.updated_at, loaded_at) as timestamp, generate_uuid() as event_id,
        i.document_name,
        case when l.document_name is null
                 then if((select count(*) = 0 from latest), 'IMPORT', 'CREATE')
             when l.operation = 'DELETE' then 'CREATE'
             else 'UPDATE' end as operation,
        i.data, if(l.operation <> 'DELETE', l.data, null) as old_data, i.document_id,
        loaded_at as _loaded_at
    from incoming_documents as i
    left join latest as l using (document_name)
    where l.document_name is null or l.operation = 'DELETE' or l.data <> i.data
    union all
    select loaded_at, generate_uuid(), l.document_name, 'DELETE', null, l.data, l.document_id,
        loaded_at
    from latest as l
    where l.operation <> 'DELETE'
      and l.document_name not in (
          select document_name from `{present}` where document_name is not null);
    insert into `{changelog}` select * from changes;
    delete from `{quarantine}` where {quarantine_scope};
    insert into `{quarantine}`
    select record_ref, error, raw, loaded_at from `{incoming}` where error is not null;
    commit transaction;
    select operation, count(*) as changes from changes group by operation;"""


def _firestore_stats_sql(changelog: str, incoming: str) -> str:
    return f"""select
        (select count(*) from `{incoming}` where error is null) as documents_read,
        (select count(*) from ({latest_versions_sql(f"`{changelog}`")})
         where operation <> 'DELETE') as live_documents"""


def _firestore_schema_sql(incoming: str) -> str:
    return f"""select key, string_agg(distinct kind, '|' order by kind)
    from (
        select key, json_type(parse_json(data)[key]) as kind
        from `{incoming}`, unnest(json_keys(parse_json(data), 1)) as key
        where error is null
    )
    group by key"""


def _bigquery_schema(schema: pa.Schema) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField(f.name, "TIMESTAMP" if pa.types.is_timestamp(f.type) else "STRING")
        for f in schema
    ]


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

    bigquery: BigQueryResource
    # Rows per Firestore load job: bounds the local spill file and the number of jobs alike.
    rows_per_load: int = 1_000_000

    @contextmanager
    def _client(self) -> Iterator[bigquery.Client]:
        with self.bigquery.get_client() as client:
            yield client

    def _table(self, name: str) -> str:
        return f"{self.bigquery.project}.{name}"

    def _ensure_dataset(self, client: bigquery.Client, dataset: str) -> None:
        reference = bigquery.Dataset(self._table(dataset))
        reference.location = self.bigquery.location
        client.create_dataset(reference, exists_ok=True)

    @staticmethod
    def _run(
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
    def _stage_name(dataset: str, what: str) -> str:
        return f"{dataset}._stage_{what}_{uuid.uuid4().hex[:12]}"

    # --- GA4 ---------------------------------------------------------------------------------
    def load_ga4_window(
        self, export: GA4Export, days: list[date], policy: Ga4DayPolicy = LOAD_EVERY_DAY
    ) -> Ga4LoadStats:
        if not isinstance(export, BigQueryGA4Export):
            raise TypeError(f"The BigQuery warehouse loads the BigQuery GA4 export, not {export!r}")
        events, quarantine = self._table("raw_ga4.events"), self._table("raw_ga4.events_quarantine")
        stage = self._table(self._stage_name("raw_ga4", "events"))
        with self._client() as client:
            existing = {
                t.table_id for t in client.list_tables(f"{export.project}.{export.dataset}")
            }
            tables = export.day_tables(days, existing)  # fails before touching anything
            # A wildcard table has the columns of its newest table (GA4 only ever adds some).
            newest = f"{export.project}.{export.dataset}.{tables[max(tables)]}"
            fields = {f.name: export_node(f) for f in client.get_table(newest).schema}
            stats = Ga4LoadStats(files=[f"{export.dataset}.{name}" for name in tables.values()])
            self._ensure_dataset(client, "raw_ga4")
            try:
                self._run(client, ga4_stage_sql(stage, export, tables, fields))
                usable_by_day = dict.fromkeys(days, 0)
                for day, lines, usable, rows, cookieless in self._run(
                    client, _ga4_stats_sql(stage)
                ):
                    if policy.too_many_bad(lines, lines - usable):
                        first_bad = self._run(
                            client,
                            f"select source_table, null, reason, left(raw_record, 160) "
                            f"from `{stage}` where export_date = @day and reason is not null "
                            "limit 1",
                            day=day,
                        )[0]
                        policy.refuse_corrupt(day, lines, lines - usable, first_bad)
                    usable_by_day[day] = usable
                    stats.source_lines += lines
                    stats.rows += rows
                    stats.cookieless_events += cookieless
                    stats.duplicates += usable - rows
                    stats.rows_by_day[day.isoformat()] = rows
                policy.check_volumes(usable_by_day, self._ga4_days_before(client, events, days))
                for reason, count in self._run(
                    client,
                    f"select split(reason, ':')[offset(0)], count(*) from `{stage}` "
                    "where reason is not null group by 1",
                ):
                    stats.quarantined[reason] += count
                shape = read_shape(fields)
                stats.unknown_fields = shape.unknown
                stats.schema = {
                    f"field:{path}": "|".join(sorted(kinds)) for path, kinds in shape.fields.items()
                } | dict(self._run(client, _ga4_schema_sql(stage)))
                self._run(
                    client,
                    ga4_replace_sql(events, quarantine, stage),
                    first_day=min(days),
                    last_day=max(days),
                )
            finally:
                client.delete_table(stage, not_found_ok=True)
        return stats

    def _ga4_days_before(
        self, client: bigquery.Client, events: str, days: list[date]
    ) -> dict[date, int]:
        """The events landed on each of the days before the window, for the volume policy."""
        if not self._exists(client, events):
            return {}
        return dict(
            self._run(
                client,
                f"select export_date, count(*) from `{events}` "
                "where export_date >= @since and export_date < @first_day group by 1",
                since=min(days) - timedelta(days=Ga4DayPolicy.RECENT_DAYS),
                first_day=min(days),
            )
        )

    # --- Firestore ---------------------------------------------------------------------------
    def firestore_watermark(self, table: str) -> datetime | None:
        changelog = self._table(f"raw_firestore.{table}_raw_changelog")
        with self._client() as client:
            if not self._exists(client, changelog):
                return None
            return self._run(
                client, f"select max(timestamp) from `{changelog}` where operation <> 'DELETE'"
            )[0][0]

    def apply_firestore_read(
        self,
        table: str,
        pages: Iterable[pa.RecordBatch],
        present_names: Iterable[pa.RecordBatch] | None = None,
        max_delete_share: float = 1.0,
    ) -> FirestoreLoadStats:
        changelog = self._table(f"raw_firestore.{table}_raw_changelog")
        quarantine = self._table(f"raw_firestore.{table}_quarantine")
        incoming = self._table(self._stage_name("raw_firestore", table))
        present = incoming
        stats = FirestoreLoadStats()
        with self._client() as client:
            self._ensure_dataset(client, "raw_firestore")
            try:
                self._load_pages(client, incoming, PAGE_SCHEMA, pages)
                if present_names is not None:
                    present = self._table(self._stage_name("raw_firestore", f"{table}_present"))
                    names = pa.schema(
                        [PAGE_SCHEMA.field("document_name"), PAGE_SCHEMA.field("error")]
                    )
                    self._load_pages(
                        client, present, names, (p.select(names.names) for p in present_names)
                    )
                if self._exists(client, changelog):
                    live, deletes = self._run(
                        client,
                        FIRESTORE_DELETES_SQL.format(
                            latest=f"({latest_versions_sql(f'`{changelog}`')})",
                            present=f"`{present}`",
                        ),
                    )[0]
                    refuse_mass_delete(changelog, live, deletes, max_delete_share)
                apply = firestore_apply_sql(
                    changelog, quarantine, incoming, present, full_read=present_names is None
                )
                stats.changes.update(dict(self._run(client, apply)))
                stats.documents_read, stats.live_documents = self._run(
                    client, _firestore_stats_sql(changelog, incoming)
                )[0]
                for reason, count in self._run(
                    client,
                    f"select split(error, ':')[offset(0)], count(*) from `{incoming}` "
                    "where error is not null group by 1",
                ):
                    stats.quarantined[reason] += count
                stats.schema = dict(self._run(client, _firestore_schema_sql(incoming)))
            finally:
                for stage in {incoming, present}:
                    client.delete_table(stage, not_found_ok=True)
        return stats

    def firestore_deleted_names(self, table: str) -> set[str]:
        changelog = self._table(f"raw_firestore.{table}_raw_changelog")
        with self._client() as client:
            if not self._exists(client, changelog):
                return set()
            return {
                name
                for (name,) in self._run(
                    client,
                    f"select document_name from ({latest_versions_sql(f'`{changelog}`')}) "
                    "where operation = 'DELETE'",
                )
            }

    # --- personal data ---------------------------------------------------------------------
    def purge_personal_data(self, personal: PersonalData, before: datetime) -> dict[str, int]:
        changelog = self._table(personal.changelog)
        with self._client() as client:
            if not self._exists(client, changelog):
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
                from ({latest_versions_sql(f"`{changelog}`")})
                where operation = 'DELETE' and timestamp < @before)"""
            # (table, the rows to purge, what to set on them)
            targets = [
                (
                    personal.changelog,
                    f"""document_name in (select document_name from {purged})
                    and ({holds("data")} or {holds("old_data")})""",
                    f"data = {without('data')}, old_data = {without('old_data')}",
                ),
                (
                    personal.quarantine,
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
                    if self._exists(client, self._table(table))
                ),
            ]
            # Counted first, then changed in one transaction: the purge is these rows' only
            # writer, and a BigQuery script returns only its last statement's rows.
            counts = self._run(
                client,
                "select "
                + ", ".join(
                    f"(select count(*) from `{self._table(table)}` where {rows})"
                    for table, rows, _ in targets
                ),
                before=before,
            )[0]
            updates = "\n".join(
                f"update `{self._table(table)}` set {change} where {rows};"
                for table, rows, change in targets
            )
            self._run(client, f"begin transaction;\n{updates}\ncommit transaction;", before=before)
        return {table: count for (table, _, _), count in zip(targets, counts, strict=True)}

    def find_plain_personal_data(self, allowed: set[str]) -> list[tuple[str, str, int]]:
        found = []
        with self._client() as client:
            for dataset in client.list_datasets(self.bigquery.project):
                if dataset.dataset_id == "raw_ga4":
                    continue
                for item in client.list_tables(self._table(dataset.dataset_id)):
                    table = f"{dataset.dataset_id}.{item.table_id}"
                    if table in allowed or item.table_id.startswith("_stage"):
                        continue
                    texts = [
                        f.name
                        for f in client.get_table(self._table(table)).schema
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
                    (rows,) = self._run(
                        client,
                        f"select {counts} from `{self._table(table)}`",
                        **PLAIN_PERSONAL_DATA,
                    )
                    found += [
                        (table, kind, n)
                        for kind, n in zip(PLAIN_PERSONAL_DATA, rows, strict=True)
                        if n
                    ]
        return found

    @staticmethod
    def _exists(client: bigquery.Client, table: str) -> bool:
        try:
            client.get_table(table)
        except NotFound:
            return False
        return True

    def _load_pages(
        self,
        client: bigquery.Client,
        stage: str,
        schema: pa.Schema,
        pages: Iterable[pa.RecordBatch],
    ) -> None:
        """Stream pages into `stage` through Parquet spill files, one load job per
        `rows_per_load` rows: memory holds one page, BigQuery sees a few large loads."""
        table = bigquery.Table(stage, schema=_bigquery_schema(schema))
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

    # --- reads ---------------------------------------------------------------------------------
    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        with self._client() as client:
            return self._run(client, sql, parameters or ())

    def query_frame(self, sql: str) -> pd.DataFrame:
        with self._client() as client:
            return client.query(sql).result().to_arrow().to_pandas()

    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        config = bigquery.LoadJobConfig(write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE)
        with self._client() as client:
            self._ensure_dataset(client, table.split(".")[0])
            # One load job with WRITE_TRUNCATE swaps the table's contents atomically.
            client.load_table_from_dataframe(frame, self._table(table), job_config=config).result()
        return len(frame)
