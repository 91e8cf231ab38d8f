"""The semantic layer: MetricFlow accepts its configs against the warehouse, and every metric the
metrics asset wrote (metrics.metric_values, queried through MetricFlow) equals the mart value it
describes, on the 3,000-user demo."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from calback_platform.assets.dbt import dbt_project
from calback_platform.settings import DBT_PROJECT_DIR

# (metric, grain, dimension, the mart's own answer as rows of (period, dimension value, value)).
DAILY = "select activity_date, null, {} from marts.{}"
VISITOR_DAYS = (
    "select {period}, null, {value} from intermediate.int_visitor_days group by 1 having {having}"
)
ACTIVE = "count(distinct case when is_active and not is_bot then visitor_id end)"
PAYING = "count(distinct case when purchase_count > 0 and not is_bot then visitor_id end)"
HUMAN_REVENUE = "sum(case when not is_bot then revenue else 0 end)"
CHANNEL_DAYS = (
    "select activity_date, default_channel_group, {} from marts.acquisition_daily where {}"
)
FUNNEL = (
    "select cohort_week, null, sum(case when step_name = '{}' then users end) * 1.0 "
    "/ sum(case when step_name = '{}' then users end) from marts.conversion_funnel "
    "group by 1 having sum(case when step_name = '{}' then users end) > 0"
)
EXPECTED = [
    ("new_users", "day", None, DAILY.format("new_users", "daily_kpis")),
    ("purchases", "day", None, DAILY.format("purchases", "daily_kpis")),
    ("revenue", "day", None, DAILY.format("revenue", "daily_kpis")),
    ("meetings_created", "day", None, DAILY.format("meetings_created", "daily_kpis")),
    ("meetings_confirmed", "day", None, DAILY.format("meetings_confirmed", "daily_kpis")),
    ("dau", "day", None, DAILY.format("dau", "active_users_daily")),
    ("wau", "day", None, DAILY.format("wau", "active_users_daily")),
    ("mau", "day", None, DAILY.format("mau", "active_users_daily")),
    ("stickiness", "day", None, DAILY.format("stickiness", "active_users_daily")),
    # A week's DAU is its days' average; a month's MAU is its last day's.
    (
        "dau",
        "week",
        None,
        "select date_trunc('week', activity_date), null, avg(dau) "
        "from marts.active_users_daily group by 1",
    ),
    (
        "mau",
        "month",
        None,
        "select date_trunc('month', activity_date), null, arg_max(mau, activity_date) "
        "from marts.active_users_daily group by 1",
    ),
    (
        "active_users",
        "day",
        None,
        VISITOR_DAYS.format(period="activity_date", value=ACTIVE, having="true"),
    ),
    (
        "active_users",
        "week",
        None,
        VISITOR_DAYS.format(
            period="date_trunc('week', activity_date)", value=ACTIVE, having="true"
        ),
    ),
    (
        "paying_users",
        "day",
        None,
        VISITOR_DAYS.format(period="activity_date", value=PAYING, having="true"),
    ),
    (
        "conversion_rate",
        "day",
        None,
        VISITOR_DAYS.format(
            period="activity_date", value=f"{PAYING} * 1.0 / {ACTIVE}", having=f"{ACTIVE} > 0"
        ),
    ),
    (
        "arpu",
        "month",
        None,
        VISITOR_DAYS.format(
            period="date_trunc('month', activity_date)",
            value=f"{HUMAN_REVENUE} / {ACTIVE}",
            having=f"{ACTIVE} > 0",
        ),
    ),
    *[
        (
            metric,
            "day",
            None,
            f"select cohort_date, null, retention_rate from marts.{mart} where {where}",
        )
        for metric, mart, where in [
            ("retention_d1", "retention_classic", "day_number = 1"),
            ("retention_d7", "retention_classic", "day_number = 7"),
            ("retention_rolling_d7", "retention_rolling", "day_number = 7"),
            ("retention_days_8_14", "retention_range", "day_range = '8-14'"),
        ]
    ],
    (
        "retention_by_day",
        "day",
        "classic_cohort__day_number",
        "select cohort_date, cast(day_number as varchar), retention_rate "
        "from marts.retention_classic",
    ),
    (
        "funnel_conversion",
        "week",
        None,
        FUNNEL.format("purchase", "onboarding_start", "onboarding_start"),
    ),
    (
        "funnel_confirmation",
        "week",
        None,
        FUNNEL.format("meeting_confirm", "invite_send", "invite_send"),
    ),
    (
        "funnel_users",
        "week",
        "funnel_step__step_name",
        "select cohort_week, step_name, users from marts.conversion_funnel",
    ),
    (
        "frequent_visitor_share",
        "month",
        None,
        "select month, null, avg(case when is_frequent then 1.0 else 0 end) "
        "from marts.frequent_visitors_monthly group by 1",
    ),
    ("sessions", "day", "channel_day__channel", CHANNEL_DAYS.format("sessions", "true")),
    ("ad_spend", "day", "channel_day__channel", CHANNEL_DAYS.format("spend", "true")),
    ("attributed_revenue", "day", "channel_day__channel", CHANNEL_DAYS.format("revenue", "true")),
    ("roas", "day", "channel_day__channel", CHANNEL_DAYS.format("revenue / spend", "spend > 0")),
    (
        "cac",
        "day",
        "channel_day__channel",
        CHANNEL_DAYS.format("spend / new_users", "new_users > 0"),
    ),
    (
        "engagement_rate",
        "day",
        "channel_day__channel",
        CHANNEL_DAYS.format("engaged_sessions * 1.0 / sessions", "sessions > 0"),
    ),
]


def _keyed(rows) -> dict[tuple[str, str | None], float]:
    return {(str(period)[:10], dimension): value for period, dimension, value in rows}


@pytest.mark.parametrize(
    ("metric", "grain", "dimension", "mart_sql"),
    EXPECTED,
    ids=[f"{m}-{g}{'-' + d if d else ''}" for m, g, d, _ in EXPECTED],
)
def test_each_metric_equals_the_mart_value_it_describes(built, metric, grain, dimension, mart_sql):
    platform, _ = built
    where = f"dimension = '{dimension}'" if dimension else "dimension is null"
    found = _keyed(
        platform.query(
            "select period_start, dimension_value, value from metrics.metric_values "
            f"where metric = '{metric}' and grain = '{grain}' and {where}"
        )
    )
    expected = _keyed(row for row in platform.query(mart_sql) if row[2] is not None)
    assert found.keys() == expected.keys()
    assert len(found) >= {"day": 10, "week": 4, "month": 1}[grain]
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


def test_every_metric_is_defined_with_a_description_and_has_values(built):
    platform, _ = built
    semantic = json.loads(
        dbt_project().manifest_path.with_name("semantic_manifest.json").read_text()
    )
    defined = platform.query(
        "select metric, label, description, format from metrics.metric_definitions"
    )
    assert {row[0] for row in defined} == {m["name"] for m in semantic["metrics"]}
    assert all(len(description) > 30 and label for _, label, description, _ in defined)
    with_values = {
        row[0] for row in platform.query("select distinct metric from metrics.metric_values")
    }
    # 30 days of data reach no cohort's day 30.
    assert {row[0] for row in defined} - with_values == {"retention_d30", "retention_rolling_d30"}


def test_mf_validate_configs_passes_against_the_warehouse(built, tmp_path):
    """MetricFlow's own check of the configs (semantics, then every semantic model, dimension,
    measure and metric queried on the warehouse), on a copy of the project: it parses the
    project, and the shared target/ stays the other tests'."""
    platform, _ = built
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "target").mkdir()
    semantic_manifest = dbt_project().manifest_path.with_name("semantic_manifest.json")
    shutil.copy(semantic_manifest, project / "target")
    mf = Path(sys.executable).with_name("mf")
    environment = {
        **os.environ,
        "CALBACK_DUCKDB_PATH": str(platform.settings.duckdb_path),
        "DBT_PROFILES_DIR": str(project),
    }
    result = subprocess.run(
        [str(mf), "validate-configs"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checks = [line for line in result.stdout.splitlines() if "Successfully validated" in line]
    assert len(checks) == 6 and all("ERRORS: 0," in line for line in checks), result.stdout
