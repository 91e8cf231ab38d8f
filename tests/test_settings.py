"""Settings: the only reader of the environment; clear errors naming the variable."""

from datetime import date

import pytest

from calback_platform.settings import SettingsError, load_settings


def test_local_partitions_cover_exactly_the_export_days(demo_dir):
    settings = load_settings({"CALBACK_SOURCE_DIR": str(demo_dir)})
    assert settings.start_date == date(2024, 3, 1)
    assert settings.end_date == date(2024, 3, 9)  # exclusive: 8 days of export


def test_explicit_dates_win_and_bad_values_name_the_variable(demo_dir):
    settings = load_settings(
        {"CALBACK_SOURCE_DIR": str(demo_dir), "CALBACK_START_DATE": "2024-03-03"}
    )
    assert settings.start_date == date(2024, 3, 3)
    with pytest.raises(SettingsError, match="CALBACK_START_DATE"):
        load_settings({"CALBACK_START_DATE": "March"})
    with pytest.raises(SettingsError, match="CALBACK_ENV"):
        load_settings({"CALBACK_ENV": "staging"})
