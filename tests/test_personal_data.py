"""Personal data: pseudonyms from ingestion on, purged after the retention, never in plain."""

import hashlib
import hmac
import json

import duckdb
import pytest

from calback_platform.settings import LOCAL_PII_KEY

pytestmark = pytest.mark.slow  # every test here runs Dagster or a child process

PURGE = "raw_firestore__personal_data_purge"
# The users' path from the export to the snapshot, and the purge after it.
USERS = [
    "raw_firestore/users_raw_changelog",
    "staging/base_firestore__users_latest",
    "staging/stg_firestore__users",
    "snapshots/users_snapshot",
    "raw_firestore/personal_data_purge",
]


def _pseudonym(value: str) -> str:
    digest = hmac.new(LOCAL_PII_KEY.encode(), value.strip().lower().encode(), hashlib.sha256)
    return "pii:" + digest.hexdigest()


def _documents(lines: list[str]) -> list[dict]:
    """The whole documents of an export's lines (the demo plants damaged ones too)."""
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("document_id"):
            found.append(record)
    return found


def _check(result) -> tuple[bool, dict]:
    (evaluation,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "no_plain_personal_data"
    ]
    return evaluation.passed, evaluation.metadata["tables"].value


def test_personal_fields_land_as_keyed_pseudonyms_everywhere(platform, truth):
    day = sorted(truth["ga4"]["final"])[0]
    result = platform.run(partition_key=day)
    assert result.success
    source = platform.source_dir / "firestore" / "userCollection.jsonl"
    users = _documents(source.read_text().splitlines())
    user = next(u for u in users if u["data"].get("email") and u["data"].get("phone"))
    raw = json.loads(
        platform.query(
            "select data from raw_firestore.users_raw_changelog "
            f"where document_id = '{user['document_id']}'"
        )[0][0]
    )
    for field in ("email", "phone", "displayName"):
        assert raw[field] == _pseudonym(user["data"][field])
    assert raw["platform"] == user["data"]["platform"]  # other fields as they were
    assert platform.query(
        f"select email_pseudonym from marts.dim_users where user_id = '{user['document_id']}'"
    ) == [(_pseudonym(user["data"]["email"]),)]
    # Plain emails only in the quarantine of damaged records; the check says there is none else.
    assert _check(result) == (True, [])
    plain = platform.query(
        "select count(*) from raw_firestore.users_raw_changelog "
        "where data like '%@example.com%' or old_data like '%@example.com%'"
    )
    assert plain == [(0,)]


def test_a_deleted_users_personal_fields_are_purged_after_the_retention(platform):
    # The retention is CALBACK_PII_RETENTION_DAYS' default, 30 days. One user is deleted from the
    # next export (of the platform's private copy of the demo).
    assert platform.run(selection=USERS).success
    source = platform.source_dir / "firestore" / "userCollection.jsonl"
    lines = source.read_text().splitlines()
    gone, kept = _documents(lines)[:2]
    source.write_text("\n".join(x for x in lines if gone["document_id"] not in x) + "\n")
    result = platform.run(selection=USERS)
    assert result.success
    history = f"where document_id = '{gone['document_id']}'"

    def fields_left() -> list[tuple]:
        return platform.query(
            "select operation, json_extract_string(coalesce(data, old_data), '$.email') "
            f"from raw_firestore.users_raw_changelog {history} order by _loaded_at"
        )

    # Within the retention: the pseudonyms stay (they still join).
    email = _pseudonym(gone["data"]["email"])
    assert fields_left() == [("IMPORT", email), ("DELETE", email)]
    assert result.asset_materializations_for_node(PURGE)[0].metadata["dagster/row_count"].value == 0

    # 31 days later (the deletion moved back in time, as the clock would have moved on).
    with duckdb.connect(str(platform.settings.duckdb_path)) as con:
        con.execute(
            "update raw_firestore.users_raw_changelog "
            f"set timestamp = timestamp - interval 31 day {history} and operation = 'DELETE'"
        )
    result = platform.run(selection=USERS)
    assert result.success
    purged = result.asset_materializations_for_node(PURGE)[0].metadata["rows_purged"].value
    assert purged["raw_firestore.users_raw_changelog"] == 2  # the IMPORT and the DELETE
    assert purged["snapshots.users_snapshot"] >= 1
    assert fields_left() == [("IMPORT", None), ("DELETE", None)]
    assert (
        platform.query(
            f"select data from raw_firestore.users_raw_changelog {history} and operation = 'IMPORT'"
        )[0][0].count("pii:")
        == 0
    )
    assert platform.query(
        f"select count(*) from snapshots.users_snapshot where user_id = '{gone['document_id']}' "
        "and email_pseudonym is not null"
    ) == [(0,)]
    # Everyone else keeps theirs; a second purge changes nothing.
    assert platform.query(
        "select json_extract_string(data, '$.email') from raw_firestore.users_raw_changelog "
        f"where document_id = '{kept['document_id']}'"
    ) == [(_pseudonym(kept["data"]["email"]),)]
    again = platform.run(selection=USERS)
    assert again.asset_materializations_for_node(PURGE)[0].metadata["dagster/row_count"].value == 0


def test_a_plain_email_outside_the_quarantine_fails_the_check(platform):
    assert platform.run(selection=USERS).success
    with duckdb.connect(str(platform.settings.duckdb_path)) as con:
        con.execute(
            "create schema if not exists marts; create table marts.leaked as "
            "select 'call +82-10-1234-5678' as note, 'someone@calback.app' as contact"
        )
    result = platform.run(selection="raw_firestore/personal_data_purge")
    assert _check(result) == (
        False,
        [
            {"table": "marts.leaked", "kind": "email", "rows": 1},
            {"table": "marts.leaked", "kind": "phone", "rows": 1},
        ],
    )
