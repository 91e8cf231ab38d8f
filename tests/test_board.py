"""The board: built by its two assets from the demo's metric series, then every page opened in
headless Chromium as a reader would, its numbers compared with the warehouse's."""

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import pytest
from board_browser import ERROR_TEXTS, open_pages, serving
from conftest import build_platform

from calback_platform.assets.metrics import METRICS_JOB
from calback_platform.board.assets import BOARD_EXPORT, BOARD_SITE
from calback_platform.board.site import pages, publish

pytestmark = pytest.mark.slow  # builds the board with Evidence (npm packages, ~90 s)

PLANTED_CHECK_FAILURE = "planted by the board test"
# How the front page formats each metric format (pages/index.md).
SHAPES = {"percent": "{:.1%}", "count": "{:,.0f}", "currency": "{:,.0f}", "ratio": "{:.2f}"}


def as_the_board_shows(shape: str, value: float) -> str:
    """A value formatted as the board shows it: the browser rounds a half away from zero,
    Python's format to even (1,236,586.5 won is 1,236,587 on the board)."""
    if shape in ("count", "currency"):
        value = float(Decimal(repr(value)).quantize(Decimal(1), ROUND_HALF_UP))
    return SHAPES[shape].format(value)


@pytest.fixture(scope="module")
def board(built, tmp_path_factory):
    """The board built on the demo's warehouse, on an instance where one check failed."""
    platform, _ = built
    board_dir = tmp_path_factory.mktemp("board")
    on_board = build_platform(
        platform.source_dir,
        platform.settings.duckdb_path.parent,
        CALBACK_BOARD_DIR=str(board_dir),
    )
    checks = on_board.defs.resolve_asset_graph().asset_check_keys
    failing = min(checks, key=lambda key: key.to_user_string())
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=failing.asset_key,
                check_name=failing.name,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=PLANTED_CHECK_FAILURE,
            )
        )
        result = on_board.run_job(METRICS_JOB, [BOARD_EXPORT, BOARD_SITE], instance=instance)
    assert result.success
    site = result.asset_materializations_for_node("board__site")[0].metadata
    return on_board, board_dir, failing, site


@pytest.fixture(scope="module")
def views(board, tmp_path_factory):
    _, board_dir, _, _ = board
    screenshots = tmp_path_factory.mktemp("screenshots")
    with serving(board_dir / "site") as base:
        return {
            view.url.removeprefix(base): view
            for view in open_pages([f"{base}/{page}" for page in pages()], screenshots)
        }


def test_every_page_opens_without_an_error_and_every_chart_has_data(views):
    assert sorted(views) == [
        "/",
        "/acquisition/",
        "/active-users/",
        "/data-health/",
        "/experiments/",
        "/frequent-visitors/",
        "/funnel/",
        "/retention/",
        "/revisit/",
    ]
    for url, view in views.items():
        assert view.errors == [], url
        assert view.external_requests == [], url  # the in-browser engine loads nothing remote
        assert [text for text in ERROR_TEXTS if text in view.text] == [], url
        # Every chart was drawn, which Evidence does only for a query with rows.
        assert view.charts == view.chart_containers, url
    charted = {url for url, view in views.items() if view.charts}
    assert charted == set(views) - {"/experiments/", "/data-health/", "/revisit/"}
    # 30 days hold no sign-up's whole 35: no revisit model yet, and the page says why.
    assert "No model yet" in views["/revisit/"].text
    # Every chart of a metric says what the metric means, in the semantic layer's words.
    for url in charted:
        assert views[url].definitions >= views[url].charts, url


def test_the_front_page_shows_the_headline_metrics_of_the_warehouse(board, views):
    platform, _, _, _ = board
    (day,) = platform.query(
        "select max(period_start) from metrics.metric_values "
        "where grain = 'day' and dimension is null"
    )[0]
    expected = platform.query(
        f"""select d.metric, d.label, d.format, v.value,
                   v.value / avg(b.value) - 1 as change
            from metrics.metric_definitions as d
            join metrics.metric_values as v
              on v.metric = d.metric and v.grain = 'day' and v.dimension is null
             and v.period_start = date '{day}'
            join metrics.metric_values as b
              on b.metric = d.metric and b.grain = 'day' and b.dimension is null
             and b.period_start between date '{day}' - 7 and date '{day}' - 1
            where d.headline is not null
            group by d.metric, d.label, d.format, v.value order by d.metric"""
    )
    front = views["/"]
    assert f"Calback on {day}" in front.text
    assert sorted(front.headlines) == [metric for metric, *_ in expected]
    for metric, label, shape, value, change in expected:
        title, shown, comparison, definition = front.headlines[metric].split("\n\n")
        assert title == label
        assert shown == as_the_board_shows(shape, value), metric
        assert re.search(rf"{abs(round(change * 100)):.0f}% vs 7-day average", comparison), metric
        assert (
            definition
            == platform.query(
                f"select description from metrics.metric_definitions where metric = '{metric}'"
            )[0][0]
        )


def test_experiments_show_their_decisions_and_flag_mismatches_and_interactions(board, views):
    platform, _, _, _ = board
    page = views["/experiments/"]
    decisions = platform.query(
        "select experiment_id, decision, srm_flag from marts.ab_test_decisions"
    )
    assert any(srm for *_, srm in decisions)  # the demo plants one
    for experiment, decision, srm in decisions:
        assert experiment in page.text
        assert decision in page.text
        assert (f"Sample ratio mismatch in {experiment}" in page.text) is srm, experiment
    interacting = platform.query(
        "select experiment_id, other_experiment_id from marts.ab_test_interactions where interacts"
    )
    assert interacting  # planted too
    for first, second in interacting:
        assert f"{first} and {second} interact" in page.text
    assert page.text.count(" interact on ") == len(interacting)


def test_data_health_shows_each_source_and_the_failing_check(board, views):
    platform, _, failing, _ = board
    page = views["/data-health/"]
    for source, rows, quarantined in platform.query(
        "select source, rows, quarantined from ops.board_sources"
    ):
        assert re.search(rf"{re.escape(source)}\s+{rows:,}\s.*\s{quarantined:,}\s", page.text)
    assert failing.name in page.text and PLANTED_CHECK_FAILURE in page.text


def test_the_site_assets_metadata_links_the_board(board):
    _, board_dir, _, site = board
    assert site["board"].value == "http://localhost:3001"
    assert "- http://localhost:3001/retention/" in site["pages"].value
    assert Path(site["site"].value).resolve() == (board_dir / "site").resolve()


def test_a_failed_build_fails_the_asset_with_evidences_error_and_keeps_the_board(board, tmp_path):
    platform, _, _, _ = board
    board_dir = tmp_path / "board"
    published = publish(_build(tmp_path / "earlier"), board_dir, "earlier")
    # No export in this board directory: Evidence cannot open the DuckDB file it is given.
    broken = build_platform(
        platform.source_dir,
        platform.settings.duckdb_path.parent,
        CALBACK_BOARD_DIR=str(board_dir),
    )
    result = broken.run_job(METRICS_JOB, [BOARD_SITE])
    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    message = failure.step_failure_data.error.cause.message
    assert "evidence sources --strict failed" in message
    assert "board.duckdb" in message  # Evidence's own words about the file it could not read
    assert (board_dir / "site").resolve() == published.resolve()
    assert not (board_dir / "builds" / result.run_id).exists()


def test_publishing_switches_the_site_whole_and_keeps_one_previous(tmp_path):
    board_dir = tmp_path / "board"
    sites = [publish(_build(tmp_path / str(n)), board_dir, f"site-{n}") for n in range(3)]
    assert (board_dir / "site").resolve() == sites[-1].resolve()
    assert (board_dir / "site" / "index.html").read_text() == str(tmp_path / "2")
    assert sorted(p.name for p in (board_dir / "sites").iterdir()) == ["site-1", "site-2"]


def _build(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "index.html").write_text(str(path))
    return path


def test_the_build_reads_the_board_copy_locally_and_bigquery_in_prod(tmp_path):
    import sqlglot
    import yaml
    from test_settings import PROD

    from calback_platform.board.site import BOARD_PROJECT, prepare_build_dir
    from calback_platform.settings import load_settings

    export = tmp_path / "board" / "board.duckdb"
    specs = {}
    for name, settings in [("local", load_settings({})), ("prod", load_settings(PROD))]:
        prepare_build_dir(tmp_path / name, settings, export)
        sources = tmp_path / name / "sources" / "warehouse"
        specs[name] = yaml.safe_load((sources / "connection.yaml").read_text())
    local = tmp_path / "local" / "sources" / "warehouse"
    assert specs["local"]["type"] == "duckdb"
    assert (local / specs["local"]["options"]["filename"]).resolve() == export.resolve()
    assert specs["prod"] == {
        "name": "warehouse",
        "type": "bigquery",
        "options": {
            "project_id": "calback-prod",
            "location": "asia-northeast3",
            "authenticator": "gcloud-cli",
        },
    }
    # One set of source queries for both, written so that BigQuery and DuckDB both read them.
    queries = sorted((BOARD_PROJECT / "sources" / "warehouse").glob("*.sql"))
    assert [q.name for q in queries] == sorted(q.name for q in local.glob("*.sql"))
    for query in queries:
        for dialect in ("bigquery", "duckdb"):
            sqlglot.parse_one(query.read_text(), read=dialect)
