"""Landing GA4 export days in BigQuery: a query job over the export dataset builds the window's
rows in the raw table's columns in a staging table, and one multi-statement transaction replaces
the window. Every statement on the partitioned table filters on `export_date`, so a day's run
scans that day, not the history."""

from __future__ import annotations

from datetime import date, timedelta

from google.cloud import bigquery

from calback_platform.ingest.ga4.export import BigQueryGA4Export
from calback_platform.ingest.ga4.load import LOAD_EVERY_DAY, Ga4DayPolicy, Ga4Loader, Ga4LoadStats
from calback_platform.ingest.ga4.schema import (
    BOOLEAN,
    FLOAT64,
    GA4_EXPORT_SCHEMA,
    GA4_QUARANTINE_SCHEMA,
    GA4_RAW_SCHEMA,
    INT64,
    UNKNOWN_FIELDS,
    bigquery_type,
    read_shape,
    unusable_reason_sql,
)
from calback_platform.warehouse.bigquery import STAGE_OPTIONS, BigQueryWarehouse

_GA4_COLUMNS = ", ".join(GA4_EXPORT_SCHEMA)
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


def _reason_sql() -> str:
    """Why an exported row is unusable (NULL when it is fine). The export is typed, so unlike
    the local files only missing fields and a wrong day can occur."""
    return unusable_reason_sql(lambda name: name, "format_date('%Y%m%d', export_date)")


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
    {STAGE_OPTIONS} as
    with exported as (
        {union}
    )
    select * except (raw_record), {_reason_sql()} as reason,
        if({_reason_sql()} is null, null, raw_record) as raw_record
    from exported"""


def ga4_replace_sql(events: str, quarantine: str, stage: str) -> str:
    """Replace the window (@first_day..@last_day) of events and quarantine in one transaction."""
    columns = ", ".join(f"`{name}` {bigquery_type(node)}" for name, node in GA4_RAW_SCHEMA.items())
    landed = f"{_GA4_COLUMNS}, {UNKNOWN_FIELDS}, export_date"
    return f"""create table if not exists `{events}` ({columns})
    partition by export_date
    cluster by event_name, user_pseudo_id;
    create table if not exists `{quarantine}` (
        {BigQueryWarehouse.columns_sql(GA4_QUARANTINE_SCHEMA)})
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


def _stats_sql(stage: str) -> str:
    return f"""select export_date, count(*) as lines, countif(reason is null) as usable,
        count(distinct if(reason is null, row_fingerprint, null)) as events,
        count(distinct if(reason is null and user_pseudo_id is null, row_fingerprint, null))
            as cookieless
    from `{stage}` group by export_date order by export_date"""


def _schema_sql(stage: str) -> str:
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


class BigQueryGa4Loader(Ga4Loader):
    """The GA4 export dataset into the BigQuery warehouse."""

    warehouse: BigQueryWarehouse
    export: BigQueryGA4Export

    def load_window(self, days: list[date], policy: Ga4DayPolicy = LOAD_EVERY_DAY) -> Ga4LoadStats:
        export, warehouse = self.export, self.warehouse
        events, quarantine = (
            warehouse.table("raw_ga4.events"),
            warehouse.table("raw_ga4.events_quarantine"),
        )
        stage = warehouse.table(warehouse.stage_name("raw_ga4", "events"))
        with warehouse.client() as client:
            existing = {
                t.table_id for t in client.list_tables(f"{export.project}.{export.dataset}")
            }
            tables = export.day_tables(days, existing)  # fails before touching anything
            # A wildcard table has the columns of its newest table (GA4 only ever adds some).
            newest = f"{export.project}.{export.dataset}.{tables[max(tables)]}"
            fields = {f.name: export_node(f) for f in client.get_table(newest).schema}
            stats = Ga4LoadStats(files=[f"{export.dataset}.{name}" for name in tables.values()])
            warehouse.ensure_dataset(client, "raw_ga4")
            try:
                warehouse.run(client, ga4_stage_sql(stage, export, tables, fields))
                usable_by_day = dict.fromkeys(days, 0)
                for day, lines, usable, rows, cookieless in warehouse.run(
                    client, _stats_sql(stage)
                ):
                    if policy.too_many_bad(lines, lines - usable):
                        first_bad = warehouse.run(
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
                policy.check_volumes(usable_by_day, self._days_before(client, events, days))
                for reason, count in warehouse.run(
                    client,
                    f"select split(reason, ':')[offset(0)], count(*) from `{stage}` "
                    "where reason is not null group by 1",
                ):
                    stats.quarantined[reason] += count
                shape = read_shape(fields)
                stats.unknown_fields = shape.unknown
                stats.schema = {
                    f"field:{path}": "|".join(sorted(kinds)) for path, kinds in shape.fields.items()
                } | dict(warehouse.run(client, _schema_sql(stage)))
                warehouse.run(
                    client,
                    ga4_replace_sql(events, quarantine, stage),
                    first_day=min(days),
                    last_day=max(days),
                )
            finally:
                client.delete_table(stage, not_found_ok=True)
        return stats

    def _days_before(
        self, client: bigquery.Client, events: str, days: list[date]
    ) -> dict[date, int]:
        """The events landed on each of the days before the window, for the volume policy."""
        if not self.warehouse.exists(client, events):
            return {}
        return dict(
            self.warehouse.run(
                client,
                f"select export_date, count(*) from `{events}` "
                "where export_date >= @since and export_date < @first_day group by 1",
                since=min(days) - timedelta(days=Ga4DayPolicy.RECENT_DAYS),
                first_day=min(days),
            )
        )
