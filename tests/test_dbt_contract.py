"""The dbt CLI contract (as dagster-open-platform pins it): exact vars for a partition window."""

import json
from datetime import date

from calback_platform.assets.dbt import build_args, window_vars


def test_a_partition_window_becomes_half_open_vars():
    variables = window_vars(date(2024, 3, 2), date(2024, 3, 5))
    assert variables == {"min_date": "2024-03-02", "max_date": "2024-03-05"}
    assert build_args(variables) == [
        "build",
        "--vars",
        '{"max_date": "2024-03-05", "min_date": "2024-03-02"}',
    ]
    assert json.loads(build_args(variables)[2]) == variables


def test_unpartitioned_models_build_without_vars():
    assert build_args() == ["build"]
