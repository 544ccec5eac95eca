"""Month, URL and filename resolution for logical dates and params."""

from __future__ import annotations

import re

from datetime import datetime, timezone

import pytest

from taxi_pipeline.months import Month, ParamError, Window, resolve_month
from taxi_pipeline.run import describe_run
from taxi_pipeline.extract.releases import DTC, TLC, release
from taxi_pipeline.specs import FHVHV, GREEN, YELLOW, get_spec

WINDOW = Window(Month(2019, 1), Month(2021, 7))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "logical_date,expected",
    [
        (utc(2019, 1, 1, 9), Month(2019, 1)),
        (utc(2019, 12, 1, 10), Month(2019, 12)),
        (utc(2020, 2, 29, 23, 59), Month(2020, 2)),
        (utc(2021, 7, 1, 9), Month(2021, 7)),
    ],
)
def test_logical_date_month(logical_date, expected):
    assert resolve_month({}, logical_date, WINDOW) == (expected, "logical date")


def test_params_win_over_logical_date():
    assert resolve_month({"year": 2020, "month": 12}, utc(2019, 1, 1, 9), WINDOW) == (Month(2020, 12), "params")
    assert resolve_month({"year": "2020", "month": "3"}, None, WINDOW) == (Month(2020, 3), "params")


def test_a_manual_run_that_asks_for_nothing_loads_the_latest_month():
    """The first click: no conf month and no logical date is the window's last month, not an error."""
    assert resolve_month({}, None, WINDOW) == (WINDOW.last, "latest")
    assert resolve_month({"year": None, "month": None, "source": None}, None, WINDOW) == (WINDOW.last, "latest")


@pytest.mark.parametrize("run_type", ["scheduled", "backfill"])
def test_scheduled_and_backfill_runs_load_their_logical_date_whatever_the_conf(run_type):
    """The backfill dialog sends the form's pre-filled Year/Month to every run of its range."""
    conf = {"year": 2021, "month": 7}
    assert resolve_month(conf, utc(2019, 3, 1), WINDOW, run_type=run_type) == (Month(2019, 3), "logical date")
    with pytest.raises(ParamError, match="logical date: 2021-08 is outside"):
        resolve_month(conf, utc(2021, 8, 1), WINDOW, run_type=run_type)


@pytest.mark.parametrize(
    "params,logical_date,named",
    [
        ({"year": 2020, "month": 13}, None, "'month'"),
        ({"year": 2020, "month": 0}, None, "'month'"),
        ({"year": 2020, "month": "abc"}, None, "'month'"),
        ({"year": "20x0", "month": 1}, None, "'year'"),
        ({"year": True, "month": 1}, None, "'year'"),
        ({"year": 2020, "month": "1; DROP TABLE green_tripdata"}, None, "'month'"),
        ({"year": 2020}, None, "'month'"),
        ({"month": 5}, utc(2019, 1, 1), "'year'"),
        ({"year": 2018, "month": 12}, None, "year/month: 2018-12 is outside"),
        ({"year": 2021, "month": 8}, None, "year/month: 2021-08 is outside"),
        ({}, utc(2021, 8, 1, 9), "logical date: 2021-08 is outside"),
    ],
)
def test_invalid_params_name_the_parameter(params, logical_date, named):
    with pytest.raises(ParamError) as excinfo:
        resolve_month(params, logical_date, WINDOW)
    assert named in str(excinfo.value)


def test_month_arithmetic_and_window():
    assert Month(2019, 12).next() == Month(2020, 1)
    assert Month(2020, 1).next() == Month(2020, 2)
    assert Month(2020, 12).last_moment() == utc(2020, 12, 31, 23, 59, 59)
    assert Month(2020, 2).last_moment() == utc(2020, 2, 29, 23, 59, 59)
    assert [str(m) for m in Window(Month(2019, 11), Month(2020, 2)).months()] == [
        "2019-11", "2019-12", "2020-01", "2020-02"]
    assert len(WINDOW.months()) == 31
    with pytest.raises(ParamError, match="is after"):
        Window(Month(2020, 1), Month(2019, 12))


def test_url_and_filename(tmp_path):
    base = "https://github.com/DataTalksClub/nyc-tlc-data/releases/download"
    assert DTC.candidates(GREEN, Month(2019, 12)) == [
        {"url": f"{base}/green/green_tripdata_2019-12.csv.gz", "format": "csv.gz"}]
    assert TLC.candidates(YELLOW, Month(2024, 1)) == [
        {"url": "https://d37ci6vzurychx.cloudfront.net/trip-data/yellow_tripdata_2024-01.parquet", "format": "parquet"}]
    mirror = release(str(tmp_path) + "/", setting="s")
    assert [c["url"] for c in mirror.candidates(YELLOW, Month(2020, 1))] == [
        f"{tmp_path}/yellow/yellow_tripdata_2020-01.csv.gz", f"{tmp_path}/yellow_tripdata_2020-01.parquet"]
    assert YELLOW.filename(2021, 7) == "yellow_tripdata_2021-07.csv"
    with pytest.raises(ValueError, match="unknown taxi type 'blue'"):
        get_spec("blue")


def test_describe_run_derives_everything_from_the_validated_month(tmp_path):
    info = describe_run(GREEN, WINDOW, {"year": 2019, "month": 12}, None, str(tmp_path),
                        dag_id="postgres_taxi_green", run_id="manual__x")
    assert info["filename"] == "green_tripdata_2019-12.csv"
    assert info["candidates"][0] == {"url": f"{tmp_path}/green/green_tripdata_2019-12.csv.gz", "format": "csv.gz"}
    assert info["source"] == f"mirror {tmp_path}"
    assert info["staging_table"].startswith("taxi_staging.green_2019_12_")
    assert info["partition"] == "public.green_tripdata_2019_12"
    assert (info["object_name"], info["monthly_table"]) == ("green/green_tripdata_2019-12.csv.gz", "green_tripdata_2019_12")
    other = describe_run(GREEN, WINDOW, {"year": 2019, "month": 12}, None, str(tmp_path),
                         dag_id="postgres_taxi_green", run_id="manual__y")
    assert other["staging_table"] != info["staging_table"]  # two runs of a month never share staging


@pytest.mark.parametrize(
    "base,message",
    [("ftp://example.org/x", "unsupported scheme 'ftp'"), ("/does/not/exist", "directory /does/not/exist does not exist")],
)
def test_bad_source_base_is_named(base, message):
    with pytest.raises(ParamError, match=f"param 'source': {message}"):
        describe_run(GREEN, WINDOW, {}, utc(2019, 1, 1), base, dag_id="d", run_id="r", source_setting="param 'source'")


@pytest.mark.parametrize("source,spec,month,message", [
    ("dtc", GREEN, Month(2021, 8), "dtc publishes green 2019-01..2021-07, not 2021-08"),
    ("tlc", YELLOW, Month(2010, 6), "tlc publishes yellow 2011-01..20"),
    ("tlc", FHVHV, Month(2019, 1), "tlc publishes fhvhv 2019-02.."),
])
def test_a_month_the_source_does_not_publish_is_refused_before_any_io(source, spec, month, message):
    window = Window(Month(2009, 1), Month(2030, 1))
    with pytest.raises(ParamError, match=re.escape(message)) as raised:
        describe_run(spec, window, {"year": month.year, "month": month.month}, None, source, dag_id="d", run_id="r")
    if month.year == 2010:
        assert "old layout (lat/lon, no zone ids)" in str(raised.value)
