"""The asset graph of the local code location against a reviewed snapshot.

tests/snapshots/asset_graph.json holds every asset key with its group, its upstream keys, its
partitions definition (null when unpartitioned) and the names of its asset checks. A change to
the graph (a model added, a dependency lost in a refactor, a check renamed, a group moved) fails
this test with the diff. When the change is meant, rewrite the snapshot and commit it with the
change, so the review shows what the graph gained or lost:

    CALBACK_UPDATE_SNAPSHOTS=1 pytest tests/test_asset_graph.py
"""

from __future__ import annotations

import difflib
import json
import os
import warnings
from pathlib import Path

import dagster as dg
import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
UPDATE = "CALBACK_UPDATE_SNAPSHOTS"
UPDATE_COMMAND = f"{UPDATE}=1 pytest tests/test_asset_graph.py"


def describe(defs: dg.Definitions) -> str:
    """The graph as sorted JSON, one dependency and one check a line, so a diff names them."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda key: key.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": type(partitions).__name__ if partitions else None,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "checks": sorted(check.name for check in node.check_keys),
        }
    return json.dumps(assets, indent=2) + "\n"


def test_the_asset_graph_matches_its_snapshot(platform):
    actual = describe(platform.defs)
    shown = SNAPSHOT.relative_to(Path(__file__).parent.parent)
    if os.environ.get(UPDATE, "") not in ("", "0"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(actual)
        warnings.warn(f"{shown} rewritten ({UPDATE} is set): review its diff", stacklevel=1)
        return
    if not SNAPSHOT.exists():
        pytest.fail(f"No {shown} yet: write it with `{UPDATE_COMMAND}`", pytrace=False)
    expected = SNAPSHOT.read_text()
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"{shown} (snapshot)",
            tofile="asset graph (now)",
        )
        pytest.fail(
            f"The asset graph differs from {shown}:\n{''.join(diff)}\n"
            f"If the change is meant, rewrite the snapshot and commit it with the change:\n"
            f"    {UPDATE_COMMAND}",
            pytrace=False,
        )
