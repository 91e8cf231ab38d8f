"""Personal data's lifetime in the warehouse: the purge asset and the plain-text check.

asset.py -> store.py (where personal fields live, the interface) -> duckdb.py | bigquery.py.
"""
