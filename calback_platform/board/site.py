"""Building the board: the Evidence project in `board/` run on a build directory of its own, then
published by moving one symlink, so the served site is always a whole build.

A build directory links the project's pages, components and installed packages, and gets the
warehouse connection of the target written into it: locally the board's DuckDB export, in prod
BigQuery itself. Evidence writes its cache and output there, never into the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from calback_platform.dbt_child import end_with_parent
from calback_platform.settings import PROJECT_ROOT, Settings

BOARD_PROJECT = PROJECT_ROOT / "board"
SOURCE = "warehouse"  # the pages read `warehouse.<table>`
LINKED = (
    "package.json",
    "evidence.config.yaml",
    "evidence.settings.json",
    "pages",
    "partials",
    "components",
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ERROR_TAIL_LINES = 30
# Sites kept besides the published one: a page being loaded from the previous build finishes.
KEEP_PREVIOUS_SITES = 1


class BoardBuildError(RuntimeError):
    """Evidence failed; the message ends with what it printed last."""


def pages() -> list[str]:
    """The board's page paths, as served ("" is the front page)."""
    paths = []
    for page in sorted((BOARD_PROJECT / "pages").rglob("*.md")):
        relative = page.relative_to(BOARD_PROJECT / "pages").with_suffix("")
        paths.append("" if relative.name == "index" else f"{relative.as_posix()}/")
    return paths


def connection(settings: Settings, export: Path, sources_dir: Path) -> dict[str, Any]:
    if settings.is_local:
        # Evidence joins the file name onto the source's folder.
        options = {"filename": os.path.relpath(export, sources_dir)}
        return {"name": SOURCE, "type": "duckdb", "options": options}
    options = {
        "project_id": settings.gcp_project,
        "location": settings.bigquery_location or "US",
        # Application Default Credentials: the service account the platform runs as.
        "authenticator": "gcloud-cli",
    }
    return {"name": SOURCE, "type": "bigquery", "options": options}


def prepare_build_dir(work: Path, settings: Settings, export: Path) -> None:
    if not (BOARD_PROJECT / "node_modules" / ".bin" / "evidence").exists():
        raise BoardBuildError(
            f"Evidence is not installed in {BOARD_PROJECT}: run `make board-install` "
            "(npm ci in board/)."
        )
    work.mkdir(parents=True)
    for name in (*LINKED, "node_modules"):
        (work / name).symlink_to(BOARD_PROJECT / name)
    sources = work / "sources" / SOURCE
    sources.mkdir(parents=True)
    for query in sorted((BOARD_PROJECT / "sources" / SOURCE).glob("*.sql")):
        shutil.copy(query, sources)  # Evidence reads regular files only, not links
    spec = connection(settings, export, sources)
    (sources / "connection.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def run_evidence(work: Path, command: str, log: Callable[[str], None]) -> float:
    """`evidence <command>` in the build directory, its output logged line by line; the seconds it
    took. Bound to this process: a killed run worker leaves no build running."""
    started = time.perf_counter()
    parent = os.getpid()
    tail: deque[str] = deque(maxlen=ERROR_TAIL_LINES)
    with subprocess.Popen(
        [str(work / "node_modules" / ".bin" / "evidence"), *command.split()],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        preexec_fn=lambda: end_with_parent(parent),
    ) as process:
        for raw in process.stdout:
            line = ANSI.sub("", raw).rstrip()
            if line.strip():
                tail.append(line)
                log(line)
    if process.returncode != 0:
        raise BoardBuildError(
            f"evidence {command} failed (exit {process.returncode}):\n" + "\n".join(tail)
        )
    return time.perf_counter() - started


def publish(build: Path, board_dir: Path, name: str) -> Path:
    """Move a finished build to `<board_dir>/sites/<name>` and point `<board_dir>/site` at it
    in one rename; older sites beyond the previous one are removed (names sort by age)."""
    sites = board_dir / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    target = sites / name
    shutil.move(build, target)
    link = board_dir / "site"
    staging = board_dir / f".site-{name}"
    staging.unlink(missing_ok=True)
    staging.symlink_to(target.relative_to(board_dir))
    os.replace(staging, link)
    previous = sorted(site for site in sites.iterdir() if site != target)
    for old in previous[: max(len(previous) - KEEP_PREVIOUS_SITES, 0)]:
        shutil.rmtree(old)
    return target
