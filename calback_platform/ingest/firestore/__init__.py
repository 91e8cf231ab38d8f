"""Firestore collections into `raw_firestore.<stem>_raw_changelog`, the shape of Firebase's
"Stream Firestore to BigQuery" extension.

asset.py (an asset per collection, full or incremental reads) -> source.py (documents as pages,
the local export; pseudonymised personal fields) | firebase.py (Firestore itself) ->
changelog.py (the tables, the latest-version view, the mass-delete guard) -> duckdb.py |
bigquery.py (change detection in one transaction).
"""
