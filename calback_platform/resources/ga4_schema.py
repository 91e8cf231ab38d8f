"""The GA4 / Firebase Analytics export schema this platform keeps (DESIGN section 4.2).

Loaded with this explicit schema rather than auto-detection, so an all-null field on one day never
changes the table's types; fields not named here are ignored, never a failure.
Leaves are DuckDB types; a dict is a STRUCT, a one-element list a LIST of that element.
"""

from __future__ import annotations

import json

_PARAM_VALUE = {
    "string_value": "VARCHAR",
    "int_value": "BIGINT",
    "float_value": "DOUBLE",
    "double_value": "DOUBLE",
}

GA4_EVENT_SCHEMA: dict = {
    "event_date": "VARCHAR",
    "event_timestamp": "BIGINT",
    "event_name": "VARCHAR",
    "event_params": [{"key": "VARCHAR", "value": _PARAM_VALUE}],
    "event_previous_timestamp": "BIGINT",
    "event_value_in_usd": "DOUBLE",
    "event_bundle_sequence_id": "BIGINT",
    "event_server_timestamp_offset": "BIGINT",
    "user_id": "VARCHAR",
    "user_pseudo_id": "VARCHAR",
    "user_properties": [
        {"key": "VARCHAR", "value": {**_PARAM_VALUE, "set_timestamp_micros": "BIGINT"}}
    ],
    "user_first_touch_timestamp": "BIGINT",
    "user_ltv": {"revenue": "DOUBLE", "currency": "VARCHAR"},
    "device": {
        "category": "VARCHAR",
        "mobile_brand_name": "VARCHAR",
        "mobile_model_name": "VARCHAR",
        "operating_system": "VARCHAR",
        "operating_system_version": "VARCHAR",
        "language": "VARCHAR",
        "time_zone_offset_seconds": "BIGINT",
        "web_info": {"browser": "VARCHAR", "browser_version": "VARCHAR", "hostname": "VARCHAR"},
    },
    "geo": {
        "continent": "VARCHAR",
        "sub_continent": "VARCHAR",
        "country": "VARCHAR",
        "region": "VARCHAR",
        "city": "VARCHAR",
        "metro": "VARCHAR",
    },
    "app_info": {
        "id": "VARCHAR",
        "version": "VARCHAR",
        "install_store": "VARCHAR",
        "firebase_app_id": "VARCHAR",
        "install_source": "VARCHAR",
    },
    "traffic_source": {"name": "VARCHAR", "medium": "VARCHAR", "source": "VARCHAR"},
    "stream_id": "VARCHAR",
    "platform": "VARCHAR",
    "ecommerce": {
        "total_item_quantity": "BIGINT",
        "purchase_revenue_in_usd": "DOUBLE",
        "purchase_revenue": "DOUBLE",
        "refund_value": "DOUBLE",
        "tax_value": "DOUBLE",
        "unique_items": "BIGINT",
        "transaction_id": "VARCHAR",
    },
    "items": [
        {
            "item_id": "VARCHAR",
            "item_name": "VARCHAR",
            "item_category": "VARCHAR",
            "price": "DOUBLE",
            "quantity": "BIGINT",
            "item_revenue": "DOUBLE",
        }
    ],
}

# Fields an event cannot be used without: missing or mistyped, the line is quarantined.
GA4_REQUIRED_FIELDS = ("event_date", "event_timestamp", "event_name", "user_pseudo_id")


def duckdb_json_structure() -> str:
    """The schema as DuckDB's `json_transform` structure argument."""
    return json.dumps(GA4_EVENT_SCHEMA, separators=(",", ":"))
