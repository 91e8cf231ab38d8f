"""The daily Slack digest: its text, and when its schedule asks for it (once per day, only after
the daily run of that day succeeded and the metrics were refreshed after it)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from calback_platform.assets.metrics import METRICS_ASSET
from calback_platform.digest import (
    DAY_TAG,
    Headline,
    build_digest_job,
    build_digest_schedule,
    digest_text,
)
from calback_platform.schedules import DAILY_JOB

DAY = date(2024, 6, 28)


def test_the_digest_compares_the_day_with_the_average_of_the_seven_before():
    before = {DAY - timedelta(days=n): 100.0 + n for n in range(1, 8)}  # average 104
    series = {
        "new_users": {DAY: 130.0, **before},
        "stickiness": {DAY: 0.2, **dict.fromkeys(before, 0.25)},
        "revenue": {DAY: 1_234_567.0, DAY - timedelta(days=1): 1_000_000.0},
    }
    headlines = [
        Headline("new_users", "New users", "count"),
        Headline("dau", "Daily active users", "count"),
        Headline("stickiness", "Stickiness (DAU / MAU)", "percent"),
        Headline("revenue", "Revenue (reporting currency)", "currency"),
    ]
    text = digest_text(DAY, headlines, series, "http://board.test")
    assert "*Calback, Friday 2024-06-28*" in text
    assert "• New users: *130* (+25% vs 104)" in text
    assert "• Stickiness (DAU / MAU): *20.0%* (-20% vs 25.0%)" in text
    assert "• Revenue (reporting currency): *1,234,567* (only 1 earlier days)" in text
    assert "• Daily active users: no value" in text
    assert text.endswith("<http://board.test|Open the board>")


def _daily_run(instance: dg.DagsterInstance, day: str, succeeds: bool) -> None:
    """A run of the daily job over the days ending on `day`, as the daily schedule tags it."""

    @dg.op
    def build() -> None:
        if not succeeds:
            raise RuntimeError("the warehouse is down")

    @dg.job(name=DAILY_JOB)
    def daily():
        build()

    daily.execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": "2024-06-25",
            "dagster/asset_partition_range_end": day,
        },
    )


@pytest.mark.slow
def test_the_schedule_asks_once_and_only_after_the_daily_run_succeeded():
    job = build_digest_job("http://board.test", pool=None)
    schedule = build_digest_schedule(job, running=False)
    morning = datetime(2024, 6, 29, 4, tzinfo=ZoneInfo("Asia/Seoul"))
    with dg.instance_for_test() as instance:

        def tick():
            with dg.build_schedule_context(
                instance=instance, scheduled_execution_time=morning
            ) as context:
                return schedule.evaluate_tick(context)

        assert "has not succeeded (not started)" in tick().skip_message
        _daily_run(instance, "2024-06-28", succeeds=False)
        assert "has not succeeded (FAILURE)" in tick().skip_message
        _daily_run(instance, "2024-06-28", succeeds=True)
        assert "metrics are not refreshed" in tick().skip_message
        instance.report_runless_asset_event(dg.AssetMaterialization(METRICS_ASSET))
        (request,) = tick().run_requests
        assert request.run_key == "digest-2024-06-28"
        assert request.tags[DAY_TAG] == "2024-06-28"
        assert request.run_config == {
            "ops": {"post_daily_digest": {"config": {"day": "2024-06-28"}}}
        }
        # The digest ran: the next ticks of the morning ask for nothing.
        instance.create_run_for_job(job, run_config=request.run_config, tags=request.tags)
        assert "already asked for" in tick().skip_message


def test_the_digest_posts_the_metrics_assets_numbers_to_slack(built):
    from fake_slack import FakeSlack

    from calback_platform.sensors.slack import SlackNotifier
    from calback_platform.warehouse.duckdb import DuckDBWarehouse

    platform, _ = built
    (day, new_users, dau) = platform.query(
        "select activity_date, new_users, dau from marts.daily_kpis "
        "order by activity_date desc limit 1"
    )[0]
    slack = FakeSlack()
    result = build_digest_job("http://board.test", pool=None).execute_in_process(
        run_config={"ops": {"post_daily_digest": {"config": {"day": day.isoformat()}}}},
        resources={
            "warehouse": DuckDBWarehouse(path=str(platform.settings.duckdb_path)),
            "slack": SlackNotifier(webhook_url=slack.webhook_url),
        },
    )
    assert result.success
    (text,) = slack.texts()
    assert f"*Calback, {day:%A %Y-%m-%d}*" in text
    assert f"• New users: *{new_users:,}* (" in text
    assert f"• Daily active users (DAU): *{dau:,}* (" in text
    assert "no value" not in text and "<http://board.test|Open the board>" in text


def test_the_metric_series_are_refreshed_once_after_each_successful_daily_run():
    from calback_platform.assets.metrics import build_metrics_job_and_sensor

    @dg.op
    def build() -> None:
        return None

    @dg.job(name=DAILY_JOB)
    def daily():
        build()

    _, sensor = build_metrics_job_and_sensor(daily, dg.AssetSelection.all())
    with dg.instance_for_test() as instance:
        result = daily.execute_in_process(instance=instance)
        (success,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=success.dagster_event,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        )
        request = sensor(context)
    assert request.run_key == f"metrics-after-{result.run_id}"
