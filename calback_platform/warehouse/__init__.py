"""The warehouse: DuckDB locally, BigQuery in prod, behind the narrow API every layer uses."""
