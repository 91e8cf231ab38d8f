"""How fast and how lean the platform is, each figure measured in the same run as the reference
it is compared with, on a generated dataset of the chosen scale:

    python benchmarks/bench.py [--work-dir data/bench] [--only ingest memory ...]

1. GA4 ingest rows/s against DuckDB's own `read_json` of the same files (same schema) and against
   the old pipeline's pandas way (`json.loads` + `json_normalize` + CSV).
2. Peak RSS of a fresh process extracting a large Firestore collection (two sizes, to show it
   does not grow) and loading the largest GA4 day.
3. The whole asset graph over 30 days as one single-run backfill against 30 per-day runs, and a
   full rebuild of every day of the dataset in one run.
4. One daily run on a warehouse holding all days against one holding 30.
5. Loading the code location's definitions in a fresh process.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from calback_platform.demo.generator import GeneratorConfig, generate

_MB = 1024 * 1024


@dataclass
class Figure:
    name: str
    measured: str
    reference: str
    ratio: float | None
    target: str
    met: bool | None

    def row(self) -> list[str]:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}"
        met = {True: "yes", False: "NO", None: ""}[self.met]
        return [self.name, self.measured, self.reference, ratio, self.target, met]


def _timed(work: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def _in_fresh_process(target: Callable, *args) -> tuple[float, float, object]:
    """Run `target(*args)` in a new interpreter; its peak RSS in MB before and after the work
    (imports included in both), and what it returned."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_measure_rss, (target, *args))


def _peak_rss_mb() -> float:
    """This process's peak resident set. VmHWM, unlike ru_maxrss, starts afresh at exec, so a
    child does not inherit the benchmark process's own peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure_rss(target: Callable, *args) -> tuple[float, float, object]:
    import calback_platform.warehouse.duckdb  # noqa: F401  (imports are the baseline)

    before = _peak_rss_mb()
    result = target(*args)
    return before, _peak_rss_mb(), result


# --- 1. ingest ---------------------------------------------------------------------------------
def _duckdb_columns() -> str:
    from calback_platform.ingest.ga4.schema import GA4_EXPORT_SCHEMA, duckdb_type

    return "{" + ", ".join(f"'{k}': '{duckdb_type(v)}'" for k, v in GA4_EXPORT_SCHEMA.items()) + "}"


def _platform_load(source: Path, database: Path, days: list[date]) -> int:
    from calback_platform.ingest.ga4.duckdb import DuckDBGa4Loader
    from calback_platform.ingest.ga4.export import LocalGA4Export
    from calback_platform.warehouse.duckdb import DuckDBWarehouse

    database.unlink(missing_ok=True)
    loader = DuckDBGa4Loader(
        warehouse=DuckDBWarehouse(path=str(database)), export=LocalGA4Export(source_dir=str(source))
    )
    return loader.load_window(days).source_lines


def _read_json_load(files: list[Path], database: Path) -> None:
    import duckdb

    database.unlink(missing_ok=True)
    with duckdb.connect(str(database)) as con:
        con.execute(
            "create table events as select * from read_json(?, format = 'newline_delimited', "
            f"ignore_errors = true, columns = {_duckdb_columns()})",
            [[str(path) for path in files]],
        )


def _pandas_load(files: list[Path], out: Path) -> int:
    """The Airflow pipeline's way: parse each line in Python, flatten with pandas, write CSV."""
    import pandas as pd

    lines = 0
    with out.open("w", newline="") as target:
        for path in files:
            records = []
            for line in path.open("rb"):
                lines += 1
                try:
                    records.append(json.loads(line))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
            pd.json_normalize(records).to_csv(target, index=False, quoting=csv.QUOTE_MINIMAL)
    return lines


def bench_ingest(source: Path, work: Path, days: list[date], pandas_days: int) -> list[Figure]:
    import calback_platform.warehouse.duckdb  # noqa: F401  (imports are not ingest)

    files = [source / "ga4" / f"events_{day:%Y%m%d}.jsonl" for day in days]
    # Alternated, three times each: the median of each is the figure.
    ours_runs, duck_runs = [], []
    for _ in range(3):
        seconds, lines = _timed(lambda: _platform_load(source, work / "ingest.duckdb", days))
        ours_runs.append(seconds)
        # Both read the same files: rates are of the same lines (the platform's count of them).
        duck_runs.append(_timed(lambda: _read_json_load(files, work / "read_json.duckdb"))[0])
    ours, duck = statistics.median(ours_runs), statistics.median(duck_runs)
    pandas_files = files[-pandas_days:]
    slow, slow_lines = _timed(lambda: _pandas_load(pandas_files, work / "pandas.csv"))
    ours_rate, duck_rate, slow_rate = lines / ours, lines / duck, slow_lines / slow
    return [
        Figure(
            f"1. GA4 ingest, {len(days)} days, {lines:,} lines (median of 3)",
            f"{ours_rate:,.0f} rows/s",
            f"DuckDB read_json {duck_rate:,.0f} rows/s",
            ours_rate / duck_rate,
            ">= 0.5",
            ours_rate / duck_rate >= 0.5,
        ),
        Figure(
            f"   vs pandas, last {pandas_days} days ({slow_lines:,} lines)",
            f"{ours_rate:,.0f} rows/s",
            f"pandas {slow_rate:,.0f} rows/s",
            ours_rate / slow_rate,
            "",
            None,
        ),
    ]


# --- 2. memory ---------------------------------------------------------------------------------
def write_collection(path: Path, documents: int) -> None:
    """A meetings-shaped Firestore export of `documents` documents (the extension encoding)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    base = 1_709_251_200
    with path.open("w", encoding="utf-8") as out:
        for n in range(documents):
            seconds = base + n * 7
            out.write(
                f'{{"document_name":"projects/calback/databases/(default)/documents/'
                f'meetingsCollection/m_{n:08d}","document_id":"m_{n:08d}","data":{{'
                f'"mid":"m_{n:08d}","hostUid":"u_{n % 50000:06d}","title":"Meeting #{n}",'
                f'"category":"study","status":"confirmed","participantUids":'
                f'["u_{n % 50000:06d}","u_{(n * 7) % 50000:06d}"],"candidateSlots":[{{"start":'
                f'{{"_seconds":{seconds + 86400},"_nanoseconds":0}},"end":{{"_seconds":'
                f'{seconds + 90000},"_nanoseconds":0}}}}],"location":{{"_latitude":37.5,'
                f'"_longitude":127.0}},"createdAt":{{"_seconds":{seconds},"_nanoseconds":0}},'
                f'"updatedAt":{{"_seconds":{seconds + 60},"_nanoseconds":0}}}}}}\n'
            )


def _extract_collection(source: str, database: str) -> int:
    from calback_platform.ingest.firestore.changelog import CollectionTables
    from calback_platform.ingest.firestore.duckdb import DuckDBFirestoreChangelog
    from calback_platform.ingest.firestore.source import LocalFirestoreExport
    from calback_platform.settings import LOCAL_PII_KEY
    from calback_platform.warehouse.duckdb import DuckDBWarehouse

    Path(database).unlink(missing_ok=True)
    export = LocalFirestoreExport(source_dir=source, pii_key=LOCAL_PII_KEY)
    pages = export.read_pages("meetingsCollection")
    changelog = DuckDBFirestoreChangelog(warehouse=DuckDBWarehouse(path=database))
    return changelog.apply_read(CollectionTables("meetings"), pages).documents_read


def _load_one_day(source: str, database: str, day: date) -> int:
    return _platform_load(Path(source), Path(database), [day])


def bench_memory(source: Path, work: Path, documents: int) -> list[Figure]:
    figures = []
    peaks = {}
    for count in (documents // 4, documents):
        collection = work / f"firestore_{count}"
        path = collection / "firestore" / "meetingsCollection.jsonl"
        if not path.exists():
            write_collection(path, count)
        before, peak, read = _in_fresh_process(
            _extract_collection, str(collection), str(work / "firestore.duckdb")
        )
        peaks[count] = (before, peak, read)
    (_, small, _), (before, peak, read) = peaks[documents // 4], peaks[documents]
    figures.append(
        Figure(
            f"2. Peak RSS, Firestore extract of {read:,} documents",
            f"{peak:,.0f} MB ({before:,.0f} MB after imports)",
            f"{small:,.0f} MB for {documents // 4:,}",
            peak / small,
            "<= 500 MB, flat",
            peak <= 500 and peak / small < 1.25,
        )
    )
    files = sorted((source / "ga4").glob("events_*.jsonl"), key=lambda p: p.stat().st_size)
    largest = files[-1]
    day = date.fromisoformat(f"{largest.stem[-8:-4]}-{largest.stem[-4:-2]}-{largest.stem[-2:]}")
    before, peak, lines = _in_fresh_process(
        _load_one_day, str(source), str(work / "one_day.duckdb"), day
    )
    figures.append(
        Figure(
            f"   Peak RSS, largest GA4 day ({day}, {lines:,} lines, "
            f"{largest.stat().st_size / _MB:,.0f} MB)",
            f"{peak:,.0f} MB ({before:,.0f} MB after imports)",
            "",
            None,
            "<= 500 MB",
            peak <= 500,
        )
    )
    return figures


# --- 3 and 4. Dagster runs ---------------------------------------------------------------------
class _Platform:
    """The code location on its own DuckDB file, run in this process like the CLI would."""

    def __init__(self, source: Path, database: Path):
        import dagster as dg

        from calback_platform.definitions import build_definitions
        from calback_platform.demo.generator import declared_quiet_days
        from calback_platform.schedules import DAILY_JOB
        from calback_platform.settings import load_settings

        database.unlink(missing_ok=True)
        self.settings = load_settings(
            {
                "CALBACK_SOURCE_DIR": str(source),
                "CALBACK_DUCKDB_PATH": str(database),
                "CALBACK_GA4_QUIET_DAYS": declared_quiet_days(source),
            }
        )
        self.job = build_definitions(self.settings).resolve_job_def(DAILY_JOB)
        self.instance = dg.DagsterInstance.ephemeral()

    def run(self, first: date, last: date) -> float:
        tags = {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
        seconds, result = _timed(
            lambda: self.job.execute_in_process(instance=self.instance, tags=tags)
        )
        if not result.success:
            raise RuntimeError(f"The benchmark run {first} .. {last} failed")
        return seconds


def bench_backfill(source: Path, work: Path, first: date, days: int) -> list[Figure]:
    last = first + timedelta(days=days - 1)
    single = _Platform(source, work / "single.duckdb").run(first, last)
    per_day = _Platform(source, work / "per_day.duckdb")
    daily = sum(per_day.run(day, day) for day in _days(first, last))
    compared, differing = _compare_warehouses(work / "single.duckdb", work / "per_day.duckdb")
    return [
        Figure(
            f"3. Backfill {days} days, whole graph",
            f"1 single run {single:,.0f} s",
            f"{days} per-day runs {daily:,.0f} s",
            daily / single,
            ">= 20x",
            daily / single >= 20,
        ),
        Figure(
            f"   Same results: {compared} tables of raw_ga4, intermediate, marts",
            f"{compared - len(differing)} equal",
            "differ: " + (", ".join(differing) or "none"),
            None,
            "all equal",
            not differing,
        ),
    ]


def _compare_warehouses(one: Path, other: Path) -> tuple[int, list[str]]:
    """How many tables the two warehouses' GA4 and dbt layers hold, and those whose rows differ
    (as multisets, load times aside)."""
    import duckdb

    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        con.execute(f"attach '{one}' as one (read_only)")
        con.execute(f"attach '{other}' as other (read_only)")
        tables = con.execute(
            """select table_schema, table_name,
                      string_agg('"' || column_name || '"', ', ' order by ordinal_position)
                          filter (where column_name <> '_loaded_at')
               from information_schema.columns
               where table_catalog = 'one'
                 and table_schema in ('raw_ga4', 'intermediate', 'marts')
               group by all order by all"""
        ).fetchall()
        differing = []
        for schema, table, columns in tables:
            a = f"select {columns} from one.{schema}.{table}"
            b = f"select {columns} from other.{schema}.{table}"
            extra = con.execute(
                f"select (select count(*) from ({a} except all {b})) "
                f"+ (select count(*) from ({b} except all {a}))"
            ).fetchone()[0]
            if extra:
                differing.append(f"{schema}.{table}")
    return len(tables), differing


def bench_rebuild_and_daily_run(source: Path, work: Path, first: date, last: date) -> list[Figure]:
    days = (last - first).days + 1
    everything = _Platform(source, work / "rebuild.duckdb")
    rebuild = everything.run(first, last)
    month = _Platform(source, work / "month.duckdb")
    month.run(last - timedelta(days=29), last)
    # Median of three daily runs each (a re-run is idempotent), the two histories alternating so
    # that both see the machine alike.
    long_runs, short_runs = [], []
    for _ in range(3):
        long_runs.append(everything.run(last, last))
        short_runs.append(month.run(last, last))
    long_daily, short_daily = statistics.median(long_runs), statistics.median(short_runs)
    return [
        Figure(
            f"   Full rebuild, {days} days, one run",
            f"{rebuild:,.0f} s",
            "",
            None,
            "<= 300 s",
            rebuild <= 300,
        ),
        Figure(
            f"4. Daily run with {days} days of history (median of 3)",
            f"{long_daily:,.1f} s",
            f"with 30 days {short_daily:,.1f} s",
            long_daily / short_daily,
            "<= 1.3",
            long_daily / short_daily <= 1.3,
        ),
    ]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# --- 5. code location --------------------------------------------------------------------------
def bench_definitions_load(source: Path, work: Path) -> list[Figure]:
    probe = (
        "import time; started = time.perf_counter(); "
        "import calback_platform.definitions as d; "
        "keys = d.defs.resolve_asset_graph().get_all_asset_keys(); "
        "print(time.perf_counter() - started, len(keys))"
    )
    from calback_platform.settings import child_environment

    env = child_environment(
        {"CALBACK_SOURCE_DIR": str(source), "CALBACK_DUCKDB_PATH": str(work / "load.duckdb")}
    )
    times = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        times.append(float(out[0]))
    best = min(times)
    return [
        Figure(
            f"5. Definitions load ({out[1]} assets, best of 3)",
            f"{best:.2f} s",
            "",
            None,
            "<= 3 s",
            best <= 3,
        )
    ]


# --- the suite ---------------------------------------------------------------------------------
def prepare_dataset(work: Path, users: int, days: int, start: date, seed: int) -> Path:
    source = work / "source"
    wanted = {"users": users, "days": days, "start": start.isoformat(), "seed": seed}
    marker = source / "bench.json"
    if not marker.exists() or json.loads(marker.read_text()) != wanted:
        shutil.rmtree(source, ignore_errors=True)
        seconds, _ = _timed(
            lambda: generate(
                GeneratorConfig(out=source, users=users, days=days, start=start, seed=seed)
            )
        )
        marker.write_text(json.dumps(wanted))
        print(f"Generated {users:,} users over {days} days in {seconds:.0f} s -> {source}")
    return source


def print_table(figures: list[Figure]) -> None:
    header = ["figure", "measured", "reference (same run)", "ratio", "target", "met"]
    rows = [header] + [figure.row() for figure in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if n == 0:
            print("-+-".join("-" * width for width in widths))


def run_benchmarks(
    work: Path,
    users: int,
    days: int,
    start: date,
    firestore_documents: int,
    only: set[str] | None = None,
) -> list[Figure]:
    from calback_platform.assets.dbt import prepare_manifest

    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    prepare_manifest()
    work.mkdir(parents=True, exist_ok=True)
    source = prepare_dataset(work, users, days, start, seed=7)
    last = start + timedelta(days=days - 1)
    window = _days(max(start, last - timedelta(days=29)), last)
    steps = {
        "ingest": lambda: bench_ingest(source, work, window, pandas_days=3),
        "memory": lambda: bench_memory(source, work, firestore_documents),
        "backfill": lambda: bench_backfill(source, work, start, min(30, days)),
        "rebuild": lambda: bench_rebuild_and_daily_run(source, work, start, last),
        "load": lambda: bench_definitions_load(source, work),
    }
    figures = []
    for name, step in steps.items():
        if only and name not in only:
            continue
        seconds, measured = _timed(step)
        print(f"[{name}: {seconds:.0f} s]", flush=True)
        figures += measured
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--start", default="2024-03-01")
    parser.add_argument("--firestore-documents", type=int, default=1_000_000)
    parser.add_argument("--work-dir", default="data/bench", help="dataset and warehouses")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["ingest", "memory", "backfill", "rebuild", "load"],
        help="run only these parts",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures = run_benchmarks(
        Path(args.work_dir),
        users=args.users,
        days=args.days,
        start=date.fromisoformat(args.start),
        firestore_documents=args.firestore_documents,
        only=set(args.only) if args.only else None,
    )
    print()
    print_table(figures)
    print(
        f"\n{args.users:,} users x {args.days} days; {time.perf_counter() - started:.0f} s in all"
    )
    return 0 if all(figure.met is not False for figure in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
