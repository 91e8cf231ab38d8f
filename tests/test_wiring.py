"""Dagster wiring: the DuckDB single-writer guard, the daily schedule's window."""

from datetime import datetime
from pathlib import Path

import dagster as dg
import yaml

from calback_platform.board.assets import BOARD_SITE
from calback_platform.definitions import WAREHOUSE_POOL
from calback_platform.schedules import DAILY_SCHEDULE
from calback_platform.settings import PROJECT_ROOT


def test_every_warehouse_writer_shares_a_pool_of_one(platform):
    assets = platform.defs.resolve_all_asset_specs()
    pools = {spec.key: platform.defs.resolve_assets_def(spec.key).op.pool for spec in assets}
    # The board's build reads its own copy of the warehouse: it must not hold the pool.
    assert pools.pop(BOARD_SITE) is None
    assert set(pools.values()) == {WAREHOUSE_POOL}
    instance = yaml.safe_load(Path(PROJECT_ROOT / "dagster.yaml").read_text())
    assert instance["concurrency"]["pools"]["default_limit"] == 1


def test_daily_schedule_requests_yesterday_and_three_days_back_as_one_run(platform):
    schedule = platform.defs.resolve_schedule_def(DAILY_SCHEDULE)
    at = datetime.fromisoformat("2024-03-08T02:00:00+09:00")
    (request,) = schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=at)
    ).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "2024-03-04"
    assert request.tags["dagster/asset_partition_range_end"] == "2024-03-07"
    late = datetime.fromisoformat("2024-05-01T02:00:00+09:00")
    result = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=late))
    assert not result.run_requests
    assert "the source ends at 2024-03-08" in result.skip_message


def test_every_daily_asset_is_reached_from_the_ga4_export_through_daily_assets(platform):
    # What a UI backfill needs to target an asset (see DailyLineageTranslator).
    graph = platform.defs.resolve_asset_graph()
    daily = {key for key in graph.get_all_asset_keys() if graph.get(key).partitions_def}
    reached, queue = set(), [dg.AssetKey(["raw_ga4", "events"])]
    while queue:
        key = queue.pop()
        reached.add(key)
        queue += [child for child in graph.get(key).child_keys if child in daily - reached]
    assert reached == daily
    assert {key.to_user_string() for key in daily} == {
        "raw_ga4/events",
        "marts/fct_events",
        "marts/fct_sessions",
        "marts/user_revisit_scores",
    }
