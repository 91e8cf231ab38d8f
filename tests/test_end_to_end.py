"""The whole graph: single-run backfill = day-by-day runs, dbt tests pass, stitching works."""

import pytest
from conftest import build_platform

pytestmark = pytest.mark.slow  # every test here runs Dagster or a child process

# The tables two runs must leave equal, and their columns: a load's own timestamp differs.
COLUMNS = {
    "raw_ga4.events": "* exclude (_loaded_at)",
    "marts.fct_events": "*",
    "marts.fct_sessions": "*",
    "marts.dim_user_devices": "*",
    "marts.dim_users": "*",
    "marts.fct_meetings": "*",
}
TABLES = {
    table: f"select {columns} from {table} order by all" for table, columns in COLUMNS.items()
}


def test_single_run_backfill_equals_day_by_day_runs(demo_dir, truth, tmp_path):
    # A run costs about 45 s whatever its days (dbt starts and parses four times), so two days:
    # a window across a day boundary, holding every kind of line and event the first four do
    # (purchases in KRW, each bad line, each campaign).
    days = sorted(truth["ga4"]["final"])[2:4]
    single = build_platform(demo_dir, tmp_path / "single")
    result = single.run(first=days[0], last=days[-1])
    assert result.success
    # dbt's own tests ran as asset checks and passed (warnings allowed, errors not).
    checks = result.get_asset_check_evaluations()
    assert len(checks) > 30
    failed = [c.check_name for c in checks if not c.passed and c.severity.value == "ERROR"]
    assert failed == []

    daily = build_platform(demo_dir, tmp_path / "daily")
    for day in days:
        assert daily.run(partition_key=day).success
    for table, sql in TABLES.items():
        assert single.query(sql) == daily.query(sql), table
    expected = sum(truth["ga4"]["final"][d]["events"] for d in days)
    assert single.query("select count(*) from marts.fct_events")[0][0] == expected
    # (Re-running a day changes nothing: test_marts and test_raw_ga4 prove it on every table.)


def test_identity_stitching_is_retroactive(demo_dir, truth, tmp_path):
    days = sorted(truth["ga4"]["final"])
    platform = build_platform(demo_dir, tmp_path)
    assert platform.run(first=days[0], last=days[-1]).success
    # Devices whose first events were anonymous and that logged in later on.
    stitched = platform.query(
        """select d.user_pseudo_id, d.visitor_id,
                  count(*) filter (where e.user_id is null) as anonymous_events
           from marts.dim_user_devices d join marts.fct_events e using (user_pseudo_id)
           where d.is_identified group by 1, 2 having anonymous_events > 0"""
    )
    assert len(stitched) > 0
    for pseudo_id, user_id, _ in stitched:
        logged_in = platform.query(
            f"select distinct user_id from marts.fct_events where user_pseudo_id = '{pseudo_id}' "
            "and user_id is not null"
        )
        assert (user_id,) in logged_in
    # Every signed-up user's sign-up device maps to them.
    signups = platform.query(
        """select count(*) from marts.fct_events as e
           join marts.dim_user_devices as d using (user_pseudo_id)
           where e.event_name = 'sign_up' and d.visitor_id <> e.user_id"""
    )
    assert signups == [(0,)]
