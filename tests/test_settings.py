"""The one settings module: every variable parsed by one parser, bad values named, README in step."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from taxi_pipeline.months import Month, ParamError, Window
from taxi_pipeline.settings import DECLARED, Settings, configuration_table
from taxi_pipeline.specs import FHVHV, GREEN, YELLOW

ROOT = Path(__file__).resolve().parents[1]


def test_defaults():
    settings = Settings.from_env({})
    assert (settings.first_month, settings.last_month, settings.source) == (Month(2019, 1), None, "dtc")
    assert settings.window(GREEN) == Window(Month(2019, 1), Month(2021, 7))  # dtc's last month
    assert not settings.open_ended(GREEN)
    assert (settings.publish_poke_seconds, settings.publish_wait_days) == (6 * 3600, 90)
    assert (settings.max_active_runs, settings.retries, settings.copy_streams) == (2, 3, 2)
    assert settings.retry_delay.total_seconds() == 30 and settings.staging_ttl.total_seconds() == 360 * 60
    assert (settings.gcp_deferrable, settings.gcp_file_format, settings.gcs_chunk_kib) == (False, "csv", 8192)


@pytest.mark.parametrize("declared", DECLARED, ids=lambda d: d.variable)
def test_every_setting_rejects_a_bad_value_naming_the_variable_and_what_it_accepts(declared):
    with pytest.raises(ParamError) as raised:
        Settings.from_env({declared.variable: "not a value!"})
    message = str(raised.value)
    assert message.startswith(f"{declared.variable}: expected ") and "'not a value!'" in message


@pytest.mark.parametrize("variable,value,accepts", [
    ("NY_TAXI_COPY_STREAMS", "17", "an integer 1..16"),
    ("NY_TAXI_MAX_ACTIVE_RUNS", "0", "an integer >= 1"),
    ("NY_TAXI_GCS_CHUNK_KIB", "300", "a positive multiple of 256"),
    ("NY_TAXI_START_MONTH", "2019-13", "YYYY-MM"),
])
def test_out_of_range_values(variable, value, accepts):
    with pytest.raises(ParamError, match=re.escape(f"{variable}: expected {accepts}")):
        Settings.from_env({variable: value})


def test_window_order_names_both_variables():
    with pytest.raises(ParamError, match="NY_TAXI_START_MONTH=2020-01 is after NY_TAXI_END_MONTH=2019-12"):
        Settings.from_env({"NY_TAXI_START_MONTH": "2020-01", "NY_TAXI_END_MONTH": "2019-12"})


def test_values_are_parsed():
    settings = Settings.from_env({"NY_TAXI_GCP_DEFERRABLE": "TRUE", "NY_TAXI_GCP_FILE_FORMAT": "Parquet",
                                  "NY_TAXI_COPY_STREAMS": " 4 ", "NY_TAXI_START_MONTH": "2020-02"})
    assert (settings.gcp_deferrable, settings.gcp_file_format, settings.copy_streams) == (True, "parquet", 4)
    assert settings.window(GREEN).first == Month(2020, 2)


def test_the_windows_follow_the_deployments_source():
    today = datetime(2026, 12, 1, tzinfo=timezone.utc)
    tlc = Settings.from_env({"NY_TAXI_SOURCE": "tlc"})
    assert tlc.window(YELLOW, today) == Window(Month(2019, 1), Month(2026, 12)) and tlc.open_ended(YELLOW)
    assert tlc.window(FHVHV, today).first == Month(2019, 2)  # published from 2019-02
    assert Settings.from_env({"NY_TAXI_SOURCE": "tlc", "NY_TAXI_START_MONTH": "2005-01"}).window(GREEN, today).first == Month(2014, 1)
    capped = Settings.from_env({"NY_TAXI_SOURCE": "tlc", "NY_TAXI_END_MONTH": "2024-06"})
    assert capped.window(YELLOW, today).last == Month(2024, 6) and not capped.open_ended(YELLOW)
    with pytest.raises(ParamError, match="holds no month that dtc publishes for green"):
        Settings.from_env({"NY_TAXI_START_MONTH": "2022-01"}).window(GREEN)


def test_readme_lists_exactly_the_declared_settings():
    assert configuration_table() in (ROOT / "docs" / "configuration.md").read_text()  # the manual's page


def test_no_module_reads_the_environment_but_the_settings_module():
    readers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "plugins").rglob("*.py")
               if re.search(r"os\.environ|os\.getenv", p.read_text()) and p.name != "settings.py"]
    assert readers == []
