"""Dagster resources: the warehouse (DuckDB | BigQuery), the Firestore and GA4 sources, Slack."""
