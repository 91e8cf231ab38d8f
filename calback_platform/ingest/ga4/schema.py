"""The GA4 / Firebase Analytics BigQuery export schema, in BigQuery's own types, and what a line of
the export looks like against it.

The schema is Google's "[GA4] BigQuery Export schema" (support.google.com/analytics/answer/7029846)
checked against the columns of real export tables, including the 2023-2024 additions
(`collected_traffic_source`, `is_active_user`, `session_traffic_source_last_click`, the `batch_*`
fields, `publisher`, `items[].item_params`) and `event_original_occurrence_timestamp` (2025).
A dict is a RECORD, a one-element list a REPEATED field of that element. Fields not named here are
never dropped: the loaders keep them in `_unknown_fields`, and the schema-drift check reports them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa

STRING, INT64, FLOAT64, BOOLEAN = "STRING", "INT64", "FLOAT64", "BOOLEAN"

_VALUE = {
    "string_value": STRING,
    "int_value": INT64,
    "float_value": FLOAT64,
    "double_value": FLOAT64,
}
_PARAMS = [{"key": STRING, "value": _VALUE}]


def _strings(*names: str) -> dict:
    return dict.fromkeys(names, STRING)


GA4_EXPORT_SCHEMA: dict = {
    "event_date": STRING,
    "event_timestamp": INT64,
    "event_name": STRING,
    "event_params": _PARAMS,
    "event_previous_timestamp": INT64,
    "event_value_in_usd": FLOAT64,
    "event_bundle_sequence_id": INT64,
    "event_server_timestamp_offset": INT64,
    "user_id": STRING,
    "user_pseudo_id": STRING,
    "privacy_info": _strings("analytics_storage", "ads_storage", "uses_transient_token"),
    "user_properties": [{"key": STRING, "value": {**_VALUE, "set_timestamp_micros": INT64}}],
    "user_first_touch_timestamp": INT64,
    "user_ltv": {"revenue": FLOAT64, "currency": STRING},
    "device": {
        **_strings(
            "category",
            "mobile_brand_name",
            "mobile_model_name",
            "mobile_marketing_name",
            "mobile_os_hardware_model",
            "operating_system",
            "operating_system_version",
            "vendor_id",
            "advertising_id",
            "language",
            "is_limited_ad_tracking",  # "Yes" / "No" in real tables
        ),
        "time_zone_offset_seconds": INT64,
        **_strings("browser", "browser_version"),
        "web_info": _strings("browser", "browser_version", "hostname"),
    },
    "geo": _strings("city", "country", "continent", "region", "sub_continent", "metro"),
    "app_info": _strings("id", "version", "install_store", "firebase_app_id", "install_source"),
    "traffic_source": _strings("name", "medium", "source"),
    "stream_id": STRING,
    "platform": STRING,
    "event_dimensions": _strings("hostname"),
    "ecommerce": {
        "total_item_quantity": INT64,
        "purchase_revenue_in_usd": FLOAT64,
        "purchase_revenue": FLOAT64,
        "refund_value_in_usd": FLOAT64,
        "refund_value": FLOAT64,
        "shipping_value_in_usd": FLOAT64,
        "shipping_value": FLOAT64,
        "tax_value_in_usd": FLOAT64,
        "tax_value": FLOAT64,
        "unique_items": INT64,
        "transaction_id": STRING,
    },
    "items": [
        {
            **_strings(
                "item_id",
                "item_name",
                "item_brand",
                "item_variant",
                "item_category",
                "item_category2",
                "item_category3",
                "item_category4",
                "item_category5",
            ),
            "price_in_usd": FLOAT64,
            "price": FLOAT64,
            "quantity": INT64,
            "item_revenue_in_usd": FLOAT64,
            "item_revenue": FLOAT64,
            "item_refund_in_usd": FLOAT64,
            "item_refund": FLOAT64,
            **_strings(
                "coupon",
                "affiliation",
                "location_id",
                "item_list_id",
                "item_list_name",
                "item_list_index",
                "promotion_id",
                "promotion_name",
                "creative_name",
                "creative_slot",
            ),
            "item_params": _PARAMS,
        }
    ],
    "collected_traffic_source": _strings(
        "manual_campaign_id",
        "manual_campaign_name",
        "manual_source",
        "manual_medium",
        "manual_term",
        "manual_content",
        "manual_source_platform",
        "manual_creative_format",
        "manual_marketing_tactic",
        "gclid",
        "dclid",
        "srsltid",
    ),
    "is_active_user": BOOLEAN,
    "batch_event_index": INT64,
    "batch_ordering_id": INT64,
    "batch_page_id": INT64,
    "session_traffic_source_last_click": {
        "manual_campaign": _strings(
            "campaign_id",
            "campaign_name",
            "source",
            "medium",
            "term",
            "content",
            "source_platform",
            "creative_format",
            "marketing_tactic",
        ),
        "google_ads_campaign": _strings(
            "customer_id",
            "account_name",
            "campaign_id",
            "campaign_name",
            "ad_group_id",
            "ad_group_name",
        ),
        "cross_channel_campaign": _strings(
            "campaign_id",
            "campaign_name",
            "source",
            "medium",
            "source_platform",
            "default_channel_group",
            "primary_channel_group",
        ),
        "sa360_campaign": _strings(
            "campaign_id",
            "campaign_name",
            "source",
            "medium",
            "ad_group_id",
            "ad_group_name",
            "creative_format",
            "engine_account_name",
            "engine_account_type",
            "manager_account_name",
        ),
        "cm360_campaign": _strings(
            "campaign_id",
            "campaign_name",
            "source",
            "medium",
            "account_id",
            "account_name",
            "advertiser_id",
            "advertiser_name",
            "creative_id",
            "creative_format",
            "creative_name",
            "creative_type",
            "creative_type_id",
            "creative_version",
            "placement_id",
            "placement_cost_structure",
            "placement_name",
            "rendering_id",
            "site_id",
            "site_name",
        ),
        "dv360_campaign": _strings(
            "campaign_id",
            "campaign_name",
            "source",
            "medium",
            "advertiser_id",
            "advertiser_name",
            "creative_id",
            "creative_format",
            "creative_name",
            "exchange_id",
            "exchange_name",
            "insertion_order_id",
            "insertion_order_name",
            "line_item_id",
            "line_item_name",
            "partner_id",
            "partner_name",
        ),
    },
    "publisher": {
        "ad_revenue_in_usd": FLOAT64,
        "ad_format": STRING,
        "ad_source_name": STRING,
        "ad_unit_id": STRING,
    },
    "event_original_occurrence_timestamp": INT64,
}

# Fields an event cannot be used without: missing or mistyped, the line is quarantined.
GA4_REQUIRED_FIELDS = ("event_date", "event_timestamp", "event_name")
# Structure an event cannot be read without: where these paths hold anything but their schema
# type (event_params a string, a parameter that is not an object), the line is quarantined too.
GA4_REQUIRED_STRUCTURE = ("event_params", "event_params[]", "event_params[].value")
# The raw table's own columns, after the export's.
UNKNOWN_FIELDS = "_unknown_fields"
JSON, DATE, TIMESTAMP = "JSON", "DATE", "TIMESTAMP"
# `raw_ga4.events`: the export's fields, what the schema does not know yet (as the export had
# it), the export day it came in, and when it landed.
GA4_RAW_SCHEMA = {
    **GA4_EXPORT_SCHEMA,
    UNKNOWN_FIELDS: JSON,
    "export_date": DATE,
    "_loaded_at": TIMESTAMP,
}
# A line (a row) that could not be landed, with its reason: `raw_record` its text, `raw_bytes`
# the line as it was when it was not UTF-8.
GA4_QUARANTINE_SCHEMA = pa.schema(
    [
        ("export_date", pa.date32()),
        ("source_file", pa.string()),
        ("line_number", pa.int64()),
        ("reason", pa.string()),
        ("raw_record", pa.string()),
        ("raw_bytes", pa.binary()),
        ("_loaded_at", pa.timestamp("us", tz="UTC")),
    ]
)


def unusable_reason_sql(
    value_of: Callable[[str], str], export_day: str, first: Iterable[str] = ()
) -> str:
    """Why an event is unusable (NULL when it is fine), as a SQL CASE both warehouses run: a
    required field missing or empty, or an event_date that is not its export's day.
    `value_of(name)` reads a required field, `export_day` is the export day as YYYYMMDD text, and
    `first` are the WHEN clauses of what only one warehouse can meet."""
    checks = list(first)
    for name in GA4_REQUIRED_FIELDS:
        empty = f" or {value_of(name)} = ''" if GA4_EXPORT_SCHEMA[name] == STRING else ""
        checks.append(f"when {value_of(name)} is null{empty} then 'missing {name}'")
    event_date = value_of("event_date")
    checks.append(
        f"when {event_date} <> {export_day} "
        f"then 'event_date ' || {event_date} || ' is not the export day'"
    )
    return "case " + " ".join(checks) + " end"


_DUCKDB_SCALARS = {
    STRING: "VARCHAR",
    INT64: "BIGINT",
    FLOAT64: "DOUBLE",
    BOOLEAN: "BOOLEAN",
    JSON: "JSON",
    DATE: "DATE",
    TIMESTAMP: "TIMESTAMPTZ",
}


def duckdb_structure(node=GA4_EXPORT_SCHEMA):
    """The schema with DuckDB leaf types, as `json_transform` takes it."""
    if isinstance(node, str):
        return _DUCKDB_SCALARS[node]
    if isinstance(node, list):
        return [duckdb_structure(node[0])]
    return {name: duckdb_structure(child) for name, child in node.items()}


def duckdb_json_structure() -> str:
    return json.dumps(duckdb_structure(), separators=(",", ":"))


def duckdb_type(node) -> str:
    if isinstance(node, str):
        return _DUCKDB_SCALARS[node]
    if isinstance(node, list):
        return duckdb_type(node[0]) + "[]"
    return "STRUCT(" + ", ".join(f'"{k}" {duckdb_type(v)}' for k, v in node.items()) + ")"


def bigquery_type(node) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return f"ARRAY<{bigquery_type(node[0])}>"
    return "STRUCT<" + ", ".join(f"`{k}` {bigquery_type(v)}" for k, v in node.items()) + ">"


def _types_by_name(node=GA4_EXPORT_SCHEMA, found: dict | None = None) -> dict[str, set[str]]:
    """Every field name, at any depth, and the types it has (RECORD, REPEATED or a scalar)."""
    found = {} if found is None else found
    for name, child in node.items():
        kind = (
            "REPEATED"
            if isinstance(child, list)
            else "RECORD"
            if isinstance(child, dict)
            else child
        )
        found.setdefault(name, set()).add(kind)
        element = child[0] if isinstance(child, list) else child
        if isinstance(element, dict):
            _types_by_name(element, found)
    return found


# --- what a line's shape says ----------------------------------------------------------------
# DuckDB's json_structure names a JSON number BIGINT, UBIGINT or DOUBLE, "JSON" for an empty
# object or for array elements of mixed kinds, and "NULL" for null or an empty array's element.
# A shape tells which fields a line has; whether each value fits its type (a number written as a
# string, as BigQuery's JSON export does) is judged line by line (suspect_values_pattern).
_NUMBERS = {"BIGINT", "UBIGINT", "DOUBLE"}


@dataclass
class ShapeReport:
    """What one line structure (DuckDB's `json_structure`) holds against the schema."""

    fields: dict[str, set[str]] = field(default_factory=dict)  # path -> its kinds
    unknown: set[str] = field(default_factory=set)  # top-level fields holding unknown parts
    mistyped: set[str] = field(default_factory=set)  # paths whose kind the type cannot take


def _kind(structure) -> str:
    """A node of a structure or of the schema, named by its kind."""
    if isinstance(structure, dict):
        return "RECORD"
    if isinstance(structure, list):
        return "REPEATED"
    return "NUMBER" if structure in _NUMBERS else structure


def read_shape(structure: dict) -> ShapeReport:
    report = ShapeReport()

    def walk(node, schema, path: str, top: str) -> None:
        # A known field is reported as its type (its values are judged line by line); an
        # unknown one as the JSON kinds it arrived with, and every field inside it too.
        report.fields.setdefault(path, set()).add(_kind(node if schema is None else schema))
        if node == "NULL":
            return
        if schema is None:
            report.unknown.add(top)
        if isinstance(node, dict) and (schema is None or isinstance(schema, dict)):
            for name, child in node.items():
                walk(child, None if schema is None else schema.get(name), f"{path}.{name}", top)
        elif isinstance(node, list) and (schema is None or isinstance(schema, list)):
            walk(node[0], None if schema is None else schema[0], f"{path}[]", top)
        else:  # a known field whose kind differs: a scalar for a container, or the reverse
            scalar_for_container = isinstance(schema, dict | list) and node != "JSON"  # {}
            container_for_scalar = isinstance(node, dict | list) and schema != STRING
            if scalar_for_container or container_for_scalar:
                report.mistyped.add(path)

    for name, child in structure.items():
        walk(child, GA4_EXPORT_SCHEMA.get(name), name, name)
    return report


def suspect_values_pattern() -> str:
    """A regular expression that finds, in a line's text, every value at a known field that its
    type may not take: a string that is not a plain number (or true/false) for a number (or a
    boolean), a fraction for an integer, a scalar for a record or an array, a container for a
    scalar. It may also match what is fine (a field of that name the schema does not know,
    "NaN"); such lines are then checked value by value (rejected_values)."""
    names = _types_by_name()

    def only(kind: str) -> list[str]:
        return sorted(name for name, types in names.items() if types == {kind})

    alternatives = [
        (only(INT64), r'[\[{tf]|-?[0-9]+[.eE]|"(?:"|-?[0-9]*[^-0-9"])'),
        (only(FLOAT64), r'[\[{tf]|"(?:"|[-+.0-9eE]*[^-+.0-9eE"])'),
        (only(BOOLEAN), r'[\[{0-9-]|"(?:"|[^tfTF])'),
        (only("RECORD"), r"[^{n]"),
        (only("REPEATED"), r"[^\[n]"),
    ]
    return "|".join(rf'"(?:{"|".join(names)})"\s*:\s*(?:{value})' for names, value in alternatives)


def is_broken(report: ShapeReport) -> str | None:
    """Why the lines of this shape cannot be read at all, if they cannot."""
    return _broken(report.mistyped)


def broken_reason(rejected: list[tuple[str, str, str]]) -> str | None:
    """Why a line with these rejected values cannot be read at all, if it cannot."""
    return _broken({path for path, _, _ in rejected})


def _broken(paths: set[str]) -> str | None:
    if paths & set(GA4_REQUIRED_STRUCTURE):
        return "event_params is not an array of parameters"
    return None


# --- one line's values -------------------------------------------------------------------------
_INTEGER = re.compile(r"-?\d+")


def _fits(value, kind: str) -> bool:
    if value is None:
        return True
    if kind == STRING:
        return True  # a number or a nested value lands as its text
    if isinstance(value, bool):
        return kind == BOOLEAN
    if kind == BOOLEAN:
        return isinstance(value, str) and value.lower() in ("true", "false")
    if kind == INT64:
        if isinstance(value, int):
            return -(2**63) <= value < 2**63
        return isinstance(value, str) and bool(_INTEGER.fullmatch(value))
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def rejected_values(record: dict) -> list[tuple[str, str, str]]:
    """(path, the value as JSON, expected type) of every value of `record` at a known path that
    its schema type cannot hold; such a value lands as NULL (or converted), and is kept here."""
    found: list[tuple[str, str, str]] = []

    def walk(value, schema, path: str) -> None:
        if value is None:
            return
        if isinstance(schema, dict):
            if not isinstance(value, dict):
                found.append((path, _as_json(value), "RECORD"))
                return
            for name, child in value.items():
                if name in schema:
                    walk(child, schema[name], f"{path}.{name}")
        elif isinstance(schema, list):
            if not isinstance(value, list):
                found.append((path, _as_json(value), "REPEATED"))
                return
            for element in value:
                walk(element, schema[0], f"{path}[]")
        elif not _fits(value, schema):
            found.append((path, _as_json(value), schema))

    for name, value in record.items():
        if name in GA4_EXPORT_SCHEMA:
            walk(value, GA4_EXPORT_SCHEMA[name], name)
    return found


def _as_json(value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(str(value))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
