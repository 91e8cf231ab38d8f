"""The GA4 / Firebase Analytics daily export into `raw_ga4.events`, one partition per day.

asset.py (the asset, its day policy config) -> export.py (where a day's export is) ->
schema.py (the export schema, the unusable-line rules) -> load.py (the loader interface, the
day policy, the figures) -> duckdb.py (local files, two streamed passes) | bigquery.py (the
export dataset, one query job and one transaction).
"""
