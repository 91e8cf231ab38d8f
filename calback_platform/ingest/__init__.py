"""Ingestion, one folder per source: each lands its data in the warehouse's raw layer.

Every source folder reads top to bottom the same way: `asset.py` (the Dagster asset and its
run config), what the source is (`export.py`, `source.py`, `schema.py`), the loader interface
and its rules (`load.py`, `changelog.py`, `validate.py`), then one loader per warehouse
(`duckdb.py`, `bigquery.py`). `definitions.build_resources` picks the loaders of the warehouse
in use.
"""
