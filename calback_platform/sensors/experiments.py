"""Slack hears about an experiment when it reaches its planned sample, when its assignment
shows a sample-ratio mismatch and when a guardrail is breached: once each, however often the
analysis runs again. The analysis lists these notices on each materialization of
ab_test_decisions; this sensor sends the ones it has not sent yet and remembers them in its
cursor."""

from __future__ import annotations

import json

import dagster as dg

from calback_platform.assets.ab_tests import AB_TEST_DECISIONS_KEY, notices_of
from calback_platform.sensors.slack import SlackDeliveryError, SlackNotifier


def build_experiment_notice_sensor(board_url: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="slack_on_experiment_news",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Tells Slack, once each, when an experiment reaches its planned sample, shows a "
            "sample-ratio mismatch or breaches a guardrail."
        ),
    )
    def slack_on_experiment_news(context: dg.SensorEvaluationContext, slack: SlackNotifier):
        event = context.instance.get_latest_materialization_event(AB_TEST_DECISIONS_KEY)
        if event is None or event.asset_materialization is None:
            return dg.SkipReason("No analysis of the experiments yet.")
        sent = set(json.loads(context.cursor or "[]"))
        news = [
            notice
            for notice in notices_of(event.asset_materialization.metadata)
            if f"{notice['experiment_id']}:{notice['kind']}" not in sent
        ]
        delivered = 0
        for notice in news:
            text = f"{notice['text']}\n<{board_url}/experiments|Open the experiments board>"
            try:
                slack.send(text, context.log)
            except SlackDeliveryError as error:
                context.log.error(f"Could not send an experiment notice: {error}; retrying")
                break
            sent.add(f"{notice['experiment_id']}:{notice['kind']}")
            delivered += 1
        context.update_cursor(json.dumps(sorted(sent)))
        return dg.SkipReason(f"{delivered} experiment notice(s) sent of {len(news)} new.")

    return slack_on_experiment_news
