"""Slack alerts against a local Slack: content, link, redaction, retries, no duplicates."""

import json
import logging
import shutil

import dagster as dg
import pytest
from conftest import build_platform
from fake_slack import FakeSlack

from calback_platform.assets.ab_tests import AB_TEST_DECISIONS_KEY, NOTICES
from calback_platform.schedules import DAILY_SCHEDULE
from calback_platform.sensors.slack import SlackNotifier

RAW = ["raw_ga4", "events"]

SECRET = "xoxb-planted-fake-secret-4242"
WEBSERVER = "http://dagster.example:3000"


@pytest.fixture
def slack():
    server = FakeSlack()
    yield server
    server.close()


class Ticks:
    """Evaluates one sensor tick after another, carrying its cursor, as the daemon does."""

    def __init__(self, platform, instance, name):
        self.sensor = platform.defs.resolve_sensor_def(name)
        self.instance, self.resources, self.cursor = instance, platform.defs.resources, None

    def __call__(self):
        # A context manager: resources that hold others (the loaders) are opened as generators.
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources=self.resources
        ) as context:
            result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result


def _platform(demo_dir, tmp_path, slack, **environment):
    source = tmp_path / "source"
    shutil.copytree(demo_dir, source)
    return build_platform(
        source,
        tmp_path,
        SLACK_WEBHOOK_URL=slack.webhook_url,
        SLACK_BOT_TOKEN=SECRET,  # configured, so it must never appear in an alert
        DAGSTER_WEBSERVER_URL=WEBSERVER,
        **environment,
    )


def _corrupt(platform, day: str) -> None:
    path = platform.source_dir / "ga4" / f"events_{day.replace('-', '')}.jsonl"
    leaked = json.dumps({"event_timestamp": f"token {SECRET}", "event_name": "oops"})
    path.write_text(leaked + "\n" + "\x00\x01 not json at all\n" * 50)


@pytest.mark.slow
def test_failed_partition_is_alerted_once_with_what_where_and_a_link(demo_dir, tmp_path, slack):
    platform = _platform(demo_dir, tmp_path, slack)
    with dg.instance_for_test() as instance:
        tick = Ticks(platform, instance, "slack_on_run_failure")
        tick()  # the first tick starts watching from now
        _corrupt(platform, "2024-03-02")
        result = platform.run(partition_key="2024-03-02", instance=instance)
        assert not result.success
        tick()
        assert len(slack.messages) == 1
        text = slack.texts()[0]
        assert "Run failed" in text and "`materialize_everything`" in text
        assert "Partition: 2024-03-02" in text
        assert "Failed steps: raw_ga4__events" in text
        assert "looks corrupt: 51 of 51 lines (100%) are unusable" in text
        assert f"<{WEBSERVER}/runs/{result.run_id}|Open the run>" in text
        assert SECRET not in text and "[REDACTED]" in text
        tick()
        assert len(slack.messages) == 1  # no duplicate on a later tick


@pytest.mark.slow
def test_slack_outage_is_retried_next_tick_and_sent_once(demo_dir, tmp_path, slack):
    platform = _platform(demo_dir, tmp_path, slack)
    with dg.instance_for_test() as instance:
        tick = Ticks(platform, instance, "slack_on_run_failure")
        tick()
        _corrupt(platform, "2024-03-03")
        assert not platform.run(partition_key="2024-03-03", instance=instance).success
        slack.down = True
        tick()  # does not raise: the failure to notify is logged
        assert slack.refused == 1 and slack.messages == []
        slack.down = False
        tick()
        tick()
        assert len(slack.messages) == 1
        assert "Partition: 2024-03-03" in slack.texts()[0]


@pytest.mark.slow
def test_failed_error_check_is_alerted_and_warnings_are_not(demo_dir, tmp_path, slack):
    platform = _platform(demo_dir, tmp_path, slack)
    users = platform.source_dir / "firestore" / "userCollection.jsonl"
    users.write_text(users.read_text().replace('"platform":"web"', '"platform":"windows"', 1))
    with dg.instance_for_test() as instance:
        tick = Ticks(platform, instance, "slack_on_asset_check_failure")
        tick()
        platform.run(partition_key="2024-03-02", instance=instance)
        tick()
        texts = slack.texts()
        assert len(texts) == 1, texts
        assert "1 asset check(s) failed" in texts[0]
        assert "accepted_values_stg_firestore__users_platform" in texts[0]
        assert "`staging/stg_firestore__users`" in texts[0]
        assert "Severity: ERROR" in texts[0]
        assert f"{WEBSERVER}/runs/" in texts[0]
        tick()
        assert len(slack.messages) == 1


def test_bot_token_posts_through_the_web_api(slack):
    notifier = SlackNotifier(bot_token="xoxb-1", channel="#data", api_base_url=slack.api_base_url)
    assert notifier.send("hello token=abc123", logging.getLogger("test")) == "bot"
    (message,) = slack.messages
    assert message["path"] == "/api/chat.postMessage"
    assert message["authorization"] == "Bearer xoxb-1"
    assert message["channel"] == "#data"
    assert message["text"] == "hello token=[REDACTED]"


def test_without_slack_the_alert_goes_to_the_log(caplog):
    with caplog.at_level(logging.WARNING):
        assert SlackNotifier().send("a run failed", logging.getLogger("alerts")) == "log"
    assert "Slack is not configured; alert:\na run failed" in caplog.text


def _freshness_job(platform, asset: list[str]):
    """A job that evaluates one asset's freshness check, as the freshness sensor's runs do."""
    freshness = dg.AssetCheckKey(dg.AssetKey(asset), "freshness")
    job = dg.define_asset_job("check_freshness", selection=dg.AssetSelection.checks(freshness))
    defs = dg.Definitions.merge(platform.defs, dg.Definitions(jobs=[job]))
    return defs.resolve_job_def("check_freshness")


@pytest.mark.slow
def test_a_mart_that_did_not_land_in_time_is_alerted_as_overdue(
    demo_dir, tmp_path, slack, monkeypatch
):
    """On an export that is still running (its partitions reach into the future), a mart
    materialized 27 hours ago is stale; one never materialized is not late, only new."""
    from datetime import date, timedelta

    from calback_platform.checks import freshness as module

    running = (date.today() + timedelta(days=30)).isoformat()
    platform = _platform(demo_dir, tmp_path, slack, CALBACK_END_DATE=running)
    check = _freshness_job(platform, ["marts", "daily_kpis"])
    with dg.instance_for_test() as instance:
        tick = Ticks(platform, instance, "slack_on_asset_check_failure")
        tick()
        (new,) = check.execute_in_process(instance=instance).get_asset_check_evaluations()
        assert new.passed and new.description.startswith("Not materialized yet")
        assert platform.run(partition_key="2024-03-02", instance=instance).success
        (fresh,) = check.execute_in_process(instance=instance).get_asset_check_evaluations()
        assert fresh.passed
        tick()
        assert slack.messages == []
        later = module.seoul_datetime() + timedelta(hours=27)
        monkeypatch.setattr(module, "seoul_datetime", lambda: later)
        (stale,) = check.execute_in_process(instance=instance).get_asset_check_evaluations()
        assert not stale.passed and stale.severity == dg.AssetCheckSeverity.ERROR
        tick()
        (text,) = slack.texts()
        assert "`freshness` on `marts/daily_kpis`" in text
        assert "Severity: ERROR" in text


@pytest.mark.slow
def test_a_finished_demo_stays_fresh_and_a_new_instance_is_quiet(
    demo_dir, tmp_path, slack, monkeypatch, truth
):
    """The local demo ends: its marts and its last export day are judged on its own clock, so
    they stay green a day (or a year) later; before anything is materialized nothing fails."""
    from datetime import timedelta

    from calback_platform.checks import freshness as module

    platform = _platform(demo_dir, tmp_path, slack)
    checks = [_freshness_job(platform, asset) for asset in (["marts", "daily_kpis"], RAW)]
    with dg.instance_for_test() as instance:
        tick = Ticks(platform, instance, "slack_on_asset_check_failure")
        tick()
        for check in checks:
            (new,) = check.execute_in_process(instance=instance).get_asset_check_evaluations()
            assert new.passed and new.description.startswith("Not materialized yet")
        days = sorted(truth["ga4"]["final"])
        assert platform.run(first=days[0], last=days[-1], instance=instance).success
        later = module.seoul_datetime() + timedelta(days=400)
        monkeypatch.setattr(module, "seoul_datetime", lambda: later)
        for check in checks:
            (result,) = check.execute_in_process(instance=instance).get_asset_check_evaluations()
            assert result.passed, result.description
        tick()
        assert slack.messages == []


@pytest.mark.slow
def test_a_daily_run_that_did_not_succeed_by_the_deadline_is_alerted_once(
    demo_dir, tmp_path, slack, monkeypatch
):
    from calback_platform.sensors import alerts

    platform = _platform(demo_dir, tmp_path, slack)
    _corrupt(platform, "2024-03-04")
    with dg.instance_for_test() as instance:
        tick = Ticks(platform, instance, "slack_on_missed_daily_run")
        today = alerts.seoul_datetime()
        monkeypatch.setattr(alerts, "seoul_datetime", lambda: today.replace(hour=5, minute=0))
        assert "Before today's 06:00 deadline" in tick().skip_message
        monkeypatch.setattr(alerts, "seoul_datetime", lambda: today.replace(hour=7, minute=0))
        assert "taken as turned off" in tick().skip_message  # locally the schedule is off
        failed = platform.run(
            partition_key="2024-03-04",
            instance=instance,
            tags={"dagster/schedule_name": DAILY_SCHEDULE},
        )
        assert not failed.success
        tick()
        (text,) = slack.texts()
        assert "Daily run overdue" in text and "`daily_refresh`" in text
        assert f"{failed.run_id[:8]} FAILURE" in text
        assert f"{WEBSERVER}/automation" in text
        tick()
        assert len(slack.messages) == 1


@pytest.mark.slow
def test_a_backfill_with_many_failed_runs_is_summarized(demo_dir, tmp_path, slack):
    platform = _platform(demo_dir, tmp_path, slack)
    days = ["2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"]
    for day in days:
        _corrupt(platform, day)
    backfill = {"dagster/backfill": "nightly01"}
    with dg.instance_for_test() as instance:
        tick = Ticks(platform, instance, "slack_on_run_failure")
        tick()
        for day in days[:3]:
            run = platform.run(
                partition_key=day, selection="raw_ga4/events", instance=instance, tags=backfill
            )
            assert not run.success
        tick()
        (first,) = slack.texts()
        assert "*3 run(s) of backfill `nightly01` failed* (3 in all so far)" in first
        assert "partitions: 2024-03-02, 2024-03-03, 2024-03-04" in first
        assert f"<{WEBSERVER}/runs/b/nightly01|Open the backfill>" in first
        assert "looks corrupt" in first  # the first run's details
        platform.run(
            partition_key=days[3], selection="raw_ga4/events", instance=instance, tags=backfill
        )
        tick()
        assert len(slack.messages) == 2
        assert (
            "*1 more run(s) of backfill `nightly01` failed* (4 in all so far)" in slack.texts()[1]
        )
        assert "looks corrupt" not in slack.texts()[1]
        tick()
        assert len(slack.messages) == 2


def _analysed(instance, *notices: tuple[str, str]) -> None:
    """A materialization of ab_test_decisions listing these (experiment, kind) notices."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            AB_TEST_DECISIONS_KEY,
            metadata={
                NOTICES: dg.MetadataValue.json(
                    [
                        {"experiment_id": e, "kind": k, "text": f"{e} {k} token={SECRET}"}
                        for e, k in notices
                    ]
                )
            },
        )
    )


def test_experiment_news_reaches_slack_once_each(demo_dir, tmp_path, slack):
    platform = _platform(demo_dir, tmp_path, slack, CALBACK_BOARD_URL="http://board.example")
    with dg.instance_for_test() as instance:
        tick = Ticks(platform, instance, "slack_on_experiment_news")
        tick()
        assert slack.messages == []  # nothing analysed yet
        _analysed(instance, ("exp_a", "srm"), ("exp_b", "planned_sample"))
        tick()
        assert [text.split("\n")[0] for text in slack.texts()] == [
            "exp_a srm token=[REDACTED]",
            "exp_b planned_sample token=[REDACTED]",
        ]
        assert "<http://board.example/experiments|Open the experiments board>" in slack.texts()[0]
        # the next analysis lists them again, and one more: only that one is news
        _analysed(instance, ("exp_a", "srm"), ("exp_b", "planned_sample"), ("exp_b", "guardrail"))
        slack.down = True
        tick()
        assert slack.refused == 1 and len(slack.messages) == 2
        slack.down = False
        tick()
        tick()
        assert len(slack.messages) == 3
        assert slack.texts()[2].startswith("exp_b guardrail")
