"""Firestore raw ingestion: extension-shaped changelog, deletes detected, re-runs add nothing."""

import json

import pytest

from calback_platform.ingest.firestore.source import pseudonymise
from calback_platform.settings import LOCAL_PII_KEY

pytestmark = pytest.mark.slow  # every test here runs Dagster or a child process

USERS = "raw_firestore/users_raw_changelog"
# A display name lands as its pseudonym.
RENAMED = pseudonymise("userCollection", {"displayName": "Renamed"}, LOCAL_PII_KEY)["displayName"]
MEETINGS = "raw_firestore/meetings_raw_changelog"


def _rewrite(path, change):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")


def test_first_load_imports_every_document_and_quarantines_bad_lines(platform, truth):
    assert platform.run(selection=USERS).success
    counts = truth["firestore"]["userCollection"]
    ops = dict(
        platform.query(
            "select operation, count(*) from raw_firestore.users_raw_changelog group by 1"
        )
    )
    assert ops == {"IMPORT": counts["documents"]}
    reasons = dict(
        platform.query(
            "select split_part(reason, ':', 1), count(*) "
            "from raw_firestore.users_quarantine group by 1"
        )
    )
    assert reasons == {
        "unparsable JSON": counts["bad_unparsable_json"],
        "missing document_name or document_id": counts["bad_missing_id"],
    }


def test_rerun_adds_nothing_then_changes_and_deletes_are_recorded(platform, truth):
    assert platform.run(selection=USERS).success
    assert platform.run(selection=USERS).success
    total = "select count(*) from raw_firestore.users_raw_changelog"
    assert platform.query(total)[0][0] == truth["firestore"]["userCollection"]["documents"]

    path = platform.source_dir / "firestore" / "userCollection.jsonl"
    records = [
        json.loads(x) for x in path.read_text().splitlines() if x.startswith('{"document_name":"')
    ]
    changed, deleted = records[0], records[1]

    def edit(lines):
        for line in lines:
            if f'"document_id":"{deleted["document_id"]}"' in line:
                continue
            if f'"document_id":"{changed["document_id"]}"' in line:
                line = line.replace('"isPremium":false', '"isPremium":true').replace(
                    '"isPremium":true', '"isPremium":true', 1
                )
                record = json.loads(line)
                record["data"]["displayName"] = "Renamed"
                line = json.dumps(record)
            yield line

    _rewrite(path, lambda lines: list(edit(lines)))
    assert platform.run(selection=USERS).success
    latest = platform.query(
        "select document_id, operation, json_extract_string(data, '$.displayName'), "
        "old_data is not null "
        "from raw_firestore.users_raw_changelog where _loaded_at = (select max(_loaded_at) "
        "from raw_firestore.users_raw_changelog) order by operation"
    )
    assert latest == [
        (deleted["document_id"], "DELETE", None, True),
        (changed["document_id"], "UPDATE", RENAMED, True),
    ]


def test_meetings_read_incrementally_by_updated_at(platform):
    assert platform.run(selection=MEETINGS).success
    path = platform.source_dir / "firestore" / "meetingsCollection.jsonl"
    good = [  # the documents with an extension-encoded updatedAt
        x
        for x in path.read_text().splitlines()
        if x.startswith('{"document_name":"') and '"updatedAt":{' in x
    ]
    newest = max(good, key=lambda x: json.loads(x)["data"]["updatedAt"]["_seconds"])
    record = json.loads(newest)
    record["data"]["status"] = "cancelled"
    record["data"]["updatedAt"]["_seconds"] += 60
    _rewrite(path, lambda lines: [json.dumps(record) if line == newest else line for line in lines])
    result = platform.run(selection=MEETINGS)
    metadata = result.asset_materializations_for_node("raw_firestore__meetings_raw_changelog")[
        0
    ].metadata
    assert metadata["read"].value == "incremental"
    assert metadata["documents_read"].value == 1
    assert metadata["changes"].value == {"UPDATE": 1}
    full = platform.run(
        selection=MEETINGS,
        run_config={
            "ops": {"raw_firestore__meetings_raw_changelog": {"config": {"full_refresh": True}}}
        },
    )
    full_metadata = full.asset_materializations_for_node("raw_firestore__meetings_raw_changelog")[
        0
    ].metadata
    assert full_metadata["read"].value == "full"
    assert full_metadata["changes"].value == {}


def test_a_damaged_line_of_a_live_document_is_quarantined_not_deleted(platform):
    assert platform.run(selection=USERS).success
    path = platform.source_dir / "firestore" / "userCollection.jsonl"
    lines = path.read_text().splitlines()
    victim = next(i for i, x in enumerate(lines) if x.startswith('{"document_name":"'))
    name = json.loads(lines[victim])["document_name"]
    lines[victim] = lines[victim][: len(lines[victim]) // 2]  # cut mid-document
    path.write_text("\n".join(lines) + "\n")
    assert platform.run(selection=USERS).success
    changes = platform.query(
        "select count(*) from raw_firestore.users_raw_changelog where operation <> 'IMPORT'"
    )
    assert changes == [(0,)]
    quarantined = platform.query(
        "select reason, raw_record from raw_firestore.users_quarantine "
        f"where record_ref = 'userCollection.jsonl:{victim + 1}'"
    )
    assert quarantined[0][0].startswith("unparsable JSON")
    assert quarantined[0][1] == lines[victim]
    assert name in quarantined[0][1]


def _changelog_counts(platform, stems=("users", "meetings")) -> list[tuple]:
    return platform.query(
        " union all ".join(
            f"select '{stem}', operation, count(*) from raw_firestore.{stem}_raw_changelog "
            "group by 2"
            for stem in stems
        )
        + " order by 1, 2"
    )


def test_an_empty_export_deletes_nothing_unless_a_mass_delete_is_allowed(platform, truth):
    both = ["raw_firestore/users_raw_changelog", "raw_firestore/meetings_raw_changelog"]
    for selection in both:
        assert platform.run(selection=selection).success
    before = _changelog_counts(platform)
    for collection in ("userCollection", "meetingsCollection"):
        (platform.source_dir / "firestore" / f"{collection}.jsonl").write_text("")

    for selection in both:
        result = platform.run(selection=selection)
        assert not result.success
        failure = result.get_step_failure_events()[0].step_failure_data.error.message
        assert "would delete" in failure and "max_delete_share" in failure
    assert _changelog_counts(platform) == before  # nothing recorded

    allow = {"config": {"max_delete_share": 1.0}}
    result = platform.run(
        selection=MEETINGS, run_config={"ops": {"raw_firestore__meetings_raw_changelog": allow}}
    )
    assert result.success
    meetings = truth["firestore"]["meetingsCollection"]["documents"]
    assert dict(
        platform.query(
            "select operation, count(*) from raw_firestore.meetings_raw_changelog group by 1"
        )
    ) == {"IMPORT": meetings, "DELETE": meetings}


def test_a_meeting_wrongly_deleted_comes_back_on_the_next_incremental_read(platform):
    assert platform.run(selection=MEETINGS).success
    path = platform.source_dir / "firestore" / "meetingsCollection.jsonl"
    original = path.read_text()
    lines = original.splitlines()
    victim = next(i for i, x in enumerate(lines) if x.startswith('{"document_name":"'))
    document_id = json.loads(lines[victim])["document_id"]
    path.write_text("\n".join(lines[:victim] + lines[victim + 1 :]) + "\n")  # a bad export
    assert platform.run(selection=MEETINGS).success
    path.write_text(original)  # the next export is whole again
    result = platform.run(selection=MEETINGS)
    assert result.success
    metadata = result.asset_materializations_for_node("raw_firestore__meetings_raw_changelog")[
        0
    ].metadata
    assert metadata["read"].value == "incremental"
    assert metadata["changes"].value == {"CREATE": 1}
    history = platform.query(
        "select operation from raw_firestore.meetings_raw_changelog "
        f"where document_id = '{document_id}' order by _loaded_at"
    )
    assert history == [("IMPORT",), ("DELETE",), ("CREATE",)]


def test_an_export_cut_inside_its_last_line_fails_and_records_nothing(platform):
    assert platform.run(selection=USERS).success
    before = _changelog_counts(platform, ["users"])
    path = platform.source_dir / "firestore" / "userCollection.jsonl"
    whole = path.read_bytes()
    last = whole.rstrip(b"\n").rsplit(b"\n", 1)[1]
    path.write_bytes(whole.rstrip(b"\n")[: -len(last) // 2])  # cut inside the last document
    result = platform.run(selection=USERS)
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "userCollection.jsonl looks cut short" in error and "nothing was recorded" in error
    assert _changelog_counts(platform, ["users"]) == before
    path.write_bytes(whole)
    assert platform.run(selection=USERS).success
    assert _changelog_counts(platform, ["users"]) == before  # whole again: no change at all


def test_a_missing_export_fails_naming_it_and_records_nothing(platform):
    assert platform.run(selection=USERS).success
    before = _changelog_counts(platform, ["users"])
    path = platform.source_dir / "firestore" / "userCollection.jsonl"
    path.rename(path.with_suffix(".moved"))
    result = platform.run(selection=USERS)
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"{path} does not exist" in error
    assert _changelog_counts(platform, ["users"]) == before
