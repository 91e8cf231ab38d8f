"""`calback` command line: generate demo data, prepare the dbt manifest, check health, serve
the board."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

from calback_platform.demo.generator import GeneratorConfig, generate


def _generate(args: argparse.Namespace) -> int:
    config = GeneratorConfig(
        out=Path(args.out),
        users=args.users,
        days=args.days,
        start=date.fromisoformat(args.start),
        seed=args.seed,
        bad_share=args.bad_share,
        duplicate_share=args.duplicate_share,
        late_share=args.late_share,
        ga4_version=args.ga4_version,
    )
    started = time.perf_counter()
    truth = generate(config)
    final = truth["ga4"][args.ga4_version]
    lines = sum(day["lines"] for day in final.values())
    print(
        f"Wrote {args.users} users over {args.days} days from {args.start} to {args.out} "
        f"({lines:,} GA4 lines, {args.ga4_version} version) in {time.perf_counter() - started:.1f}s"
    )
    print(json.dumps({k: truth[k] for k in ("bots", "whales", "multi_device_users")}))
    return 0


def _prepare_dbt(_: argparse.Namespace) -> int:
    from calback_platform.assets.dbt import prepare_manifest

    print(f"dbt manifest ready: {prepare_manifest()}")
    return 0


def _health(args: argparse.Namespace) -> int:
    from calback_platform.checks.freshness import FRESHNESS_HOURS
    from calback_platform.health import run_checks
    from calback_platform.settings import load_settings

    url = args.url or load_settings().webserver_url
    max_age_hours = FRESHNESS_HOURS if args.max_age_hours is None else args.max_age_hours
    results = run_checks(
        url,
        timeout=args.timeout,
        max_age_hours=max_age_hours,
        max_heartbeat_seconds=args.max_heartbeat_seconds,
    )
    for result in results:
        print(result.line())
    return 0 if all(result.ok for result in results) else 1


def _restore_instance(args: argparse.Namespace) -> int:
    import dagster as dg

    from calback_platform.instance_backup import postgres_url, restore_instance

    # The instance of DAGSTER_HOME (its dagster.yaml) says which database to restore into.
    with dg.DagsterInstance.get() as instance:
        url = postgres_url(instance)
    restore_instance(Path(args.dump), url)
    print(f"Restored {args.dump} into the instance database; start the webserver and daemon.")
    return 0


def _board(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from calback_platform.board.serve import serve
    from calback_platform.settings import load_settings

    settings = load_settings()
    port = args.port or urlsplit(settings.board_url).port or 3001
    serve(settings.board_dir / "site", args.host, port, settings.webserver_url)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="calback", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write the synthetic Calback source export")
    gen.add_argument("--out", default="data/source")
    gen.add_argument("--users", type=int, default=3000)
    gen.add_argument("--days", type=int, default=120)
    gen.add_argument("--start", default="2024-03-01", help="first day, YYYY-MM-DD (Asia/Seoul)")
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--bad-share", type=float, default=0.002, help="share of bad GA4 lines")
    gen.add_argument("--duplicate-share", type=float, default=0.004)
    gen.add_argument("--late-share", type=float, default=0.03)
    gen.add_argument(
        "--ga4-version",
        choices=["final", "early"],
        default="final",
        help="'early' leaves out the late events GA4 adds to a day in the following hours",
    )
    gen.set_defaults(run=_generate)

    prep = commands.add_parser("prepare-dbt", help="parse the dbt project into its manifest")
    prep.set_defaults(run=_prepare_dbt)

    health = commands.add_parser(
        "health",
        help="check the running platform for a monitor: one OK/FAIL line per check, "
        "exit 1 if any fails",
    )
    health.add_argument(
        "--url", help="webserver base URL, reached directly (default: DAGSTER_WEBSERVER_URL)"
    )
    health.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    health.add_argument(
        "--max-age-hours",
        type=float,
        help="fail when the daily schedule's last successful run ended longer ago than this "
        "(default: the marts' freshness_hours in dbt_project.yml)",
    )
    health.add_argument(
        "--max-heartbeat-seconds",
        type=float,
        default=600.0,
        help="fail when a required daemon's last heartbeat (sent every ~30 s) is older than this",
    )
    health.set_defaults(run=_health)

    restore = commands.add_parser(
        "restore-instance",
        help="replace the Dagster instance database (DAGSTER_HOME's dagster.yaml) with a dump of "
        "back_up_instance; stop the webserver and the daemon first",
    )
    restore.add_argument("dump", help="a dagster-instance-*.dump file")
    restore.set_defaults(run=_restore_instance)

    board = commands.add_parser(
        "board", help="serve the built board (the board/site asset) on loopback"
    )
    board.add_argument("--host", default="127.0.0.1")
    board.add_argument("--port", type=int, help="default: the port of CALBACK_BOARD_URL")
    board.set_defaults(run=_board)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
