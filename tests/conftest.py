"""Shared fixtures: a small generated dataset and a platform wired to a temporary DuckDB."""

from __future__ import annotations

import dis
import inspect
import json
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from calback_platform.demo.generator import GeneratorConfig, declared_quiet_days, generate
from calback_platform.schedules import DAILY_JOB
from calback_platform.settings import Settings, load_settings

START = date(2024, 3, 1)
DAYS = 8

os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def pytest_configure(config) -> None:
    """Tests load the definitions, which need the manifest of the dbt project as it is now
    (`dagster dev` prepares its own): parsed once, before any xdist worker starts."""
    if hasattr(config, "workerinput"):
        return
    from calback_platform.assets.dbt import prepare_manifest

    prepare_manifest()


# --- markers: which tests need a server, which are slow ---------------------------------------
# Registered in pyproject.toml ([tool.pytest.ini_options] markers, with --strict-markers) and set
# here, never in the test files, from what each test uses:
#
# * its fixtures: `item.fixturenames` is the whole closure, so a fixture over one of these (say
#   `instance` over `pg_database`, `project` over `emulator_host`) counts too;
# * what its code refers to, for a test that starts a server itself rather than through a
#   fixture (`with dagster_dev(...)` of tests/dagster_dev.py, `launch_emulator` for a Firestore
#   that comes up late, `fresh_database` for a restore): the global names and in-function
#   imports of the test's code (lambdas and inner functions included) and, transitively, of the
#   functions of tests/ it refers to, each as `<module>.<qualified name>`, plus the attribute
#   names it uses, as `.name` (`platform.run` gives `.run`).
#
# `slow` follows from what a test runs, not from a list of timings. Measured with --durations
# (single tests, 2 shared cores): building the Definitions over the demo data takes 0.1-0.9 s,
# so the `platform` fixture alone is not slow; executing them is. A test is slow when it
# * executes Dagster in process: `.run(...)` of the Platform, `.execute_in_process(...)`,
#   `dg.materialize(...)` (1-5 s for a raw partition, far more with dbt and every mart);
# * starts a child process: `.Popen(...)`, `subprocess.run(...)` (dagster dev, dbt, a Python
#   GA4 load to kill: 9-12 s each for the last two);
# * shares the expensive module fixtures `built` (the marts' 3,000-user whole-graph backfill) or
#   `compiled_target` (a dbt compile of the whole project for BigQuery);
# * or is in SLOW_TESTS, slow for a reason no name shows.
# The loopback PostgreSQL runs already (`make test-servers`) and the emulator fixture starts in
# about a second, so `postgres` or `firestore_emulator` alone does not make a test slow.
MARKER_FIXTURES: dict[str, set[str]] = {
    "postgres": {"pg_database"},  # tests/test_postgres_instance.py
    "firestore_emulator": {"emulator_host"},  # tests/test_firestore_emulator.py
    "dagster_dev": set(),  # no fixture: the tests enter `dagster_dev(...)` themselves
    "slow": {"built", "compiled_target"},
}
MARKER_REFERENCES: dict[str, set[str]] = {
    "postgres": {"test_postgres_instance.fresh_database"},
    "firestore_emulator": {"test_firestore_emulator.launch_emulator"},
    "dagster_dev": {"dagster_dev.dagster_dev"},
    "slow": {".run", ".execute_in_process", ".materialize", ".Popen"},
}
SLOW_TESTS = {
    # 95 s: 365 GA4 days landed in one window and again day by day, without Dagster.
    "test_raw_ga4.py::test_a_year_in_one_window_lands_what_a_year_of_daily_loads_does",
}
TESTS_DIR = Path(__file__).resolve().parent


def _name(obj) -> str | None:
    """`<last part of the module>.<qualified name>`, the same under any import mode."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    return f"{module.rpartition('.')[2]}.{qualname}"


def _in_tests(function) -> bool:
    """A function written in tests/ (a helper to follow), not one of a library."""
    path = getattr(getattr(function, "__code__", None), "co_filename", None)
    return path is not None and Path(path).resolve().is_relative_to(TESTS_DIR)


def _referred(code, namespace: dict) -> Iterator[tuple[str | None, object]]:
    """(name, object) of what `code` and the code nested in it (lambdas, inner functions,
    comprehensions) refer to: global names, imports in the body, attributes (no object)."""
    module = None
    for instruction in dis.get_instructions(code):
        if instruction.opname == "IMPORT_NAME":
            module = instruction.argval
        elif instruction.opname == "IMPORT_FROM":  # `from calback_platform.x import y` inside
            obj = getattr(sys.modules.get(module), instruction.argval, None)
            yield f"{module.rpartition('.')[2]}.{instruction.argval}", obj
        elif instruction.opname in {"LOAD_GLOBAL", "LOAD_NAME"}:
            obj = namespace.get(instruction.argval)
            yield _name(obj), obj
        elif instruction.opname in {"LOAD_ATTR", "LOAD_METHOD"}:
            yield f".{instruction.argval}", None
    for constant in code.co_consts:
        if inspect.iscode(constant):
            yield from _referred(constant, namespace)


def _references(function, seen: set[int]) -> set[str]:
    """The names `function` refers to, and those the functions of tests/ it refers to do."""
    if not inspect.isfunction(function):
        return set()
    function = inspect.unwrap(function)
    if id(function) in seen or not inspect.isfunction(function):
        return set()
    seen.add(id(function))
    names: set[str] = set()
    for name, obj in _referred(function.__code__, function.__globals__):
        if name is None or inspect.ismodule(obj):
            continue
        names.add(name)
        if inspect.isfunction(obj) and _in_tests(inspect.unwrap(obj)):
            names |= _references(obj, seen)
    return names


def pytest_collection_modifyitems(config, items) -> None:
    references_of: dict[int, set[str]] = {}
    for item in items:
        function = getattr(item, "function", None)
        if function is None:
            continue
        if id(function) not in references_of:
            references_of[id(function)] = _references(function, set())
        references = references_of[id(function)]
        fixtures = set(getattr(item, "fixturenames", ()))
        for marker, names in MARKER_FIXTURES.items():
            if fixtures & names or references & MARKER_REFERENCES[marker]:
                item.add_marker(marker)
        if f"{item.path.name}::{item.originalname}" in SLOW_TESTS:
            item.add_marker("slow")


def small_config(out: Path, **overrides) -> GeneratorConfig:
    values = dict(users=250, days=DAYS, start=START, seed=11, bad_share=0.01, duplicate_share=0.02)
    return GeneratorConfig(out=out, **{**values, **overrides})


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(small_config(out))
    return out


@pytest.fixture(scope="session")
def truth(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "truth.json").read_text())


@dataclass
class Platform:
    """The code location built from settings that point at a private source copy and DuckDB."""

    settings: Settings
    defs: dg.Definitions

    @property
    def source_dir(self) -> Path:
        return self.settings.source_dir

    def run(
        self,
        partition_key: str | None = None,
        first: str | None = None,
        last: str | None = None,
        selection: str | list[str] | None = None,
        run_config: dict | None = None,
        instance: dg.DagsterInstance | None = None,
        tags: dict[str, str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Materialize everything (or `selection`) for one partition or a single-run range,
        on `instance` if given (to inspect its records), else on a throwaway one."""
        job = self.defs.resolve_job_def(DAILY_JOB)
        tags = dict(tags or {})
        if first:
            tags["dagster/asset_partition_range_start"] = first
            tags["dagster/asset_partition_range_end"] = last
        keys = [selection] if isinstance(selection, str) else selection or []
        kwargs = {"asset_selection": [dg.AssetKey.from_user_string(k) for k in keys]}
        if not keys:
            kwargs = {}
        with ExitStack() as stack:
            instance = instance or stack.enter_context(dg.instance_for_test())
            return job.execute_in_process(
                instance=instance,
                partition_key=partition_key,
                tags=tags,
                run_config=run_config,
                raise_on_error=False,
                **kwargs,
            )

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.settings.duckdb_path), read_only=True) as con:
            return con.execute(sql).fetchall()


def build_platform(source_dir: Path, workdir: Path, **environment: str) -> Platform:
    from calback_platform.definitions import build_definitions

    settings = load_settings(
        {
            "CALBACK_SOURCE_DIR": str(source_dir),
            "CALBACK_DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
            "CALBACK_GA4_QUIET_DAYS": declared_quiet_days(source_dir),
            **environment,
        }
    )
    return Platform(settings=settings, defs=build_definitions(settings))


@pytest.fixture
def platform(demo_dir: Path, tmp_path: Path) -> Platform:
    """A platform over a private copy of the demo source, so a test may edit its files."""
    source = tmp_path / "source"
    shutil.copytree(demo_dir, source)
    return build_platform(source, tmp_path)
