"""The GCP DAGs on real emulators: fake-gcs-server (GCS) and bqemulator (BigQuery), no mocks of
the google clients. Airflow's own operators run through ``dag.test()``.

Emulator limits, handled here only: external tables are not emulated (we do not use them);
``BigQueryHook.get_records`` ignores ``BIGQUERY_EMULATOR_HOST`` (the DAG uses the client instead,
and so do these assertions); deferrable mode is off (``NY_TAXI_GCP_DEFERRABLE`` defaults to false).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from taxi_pipeline.specs import GREEN, SPECS, YELLOW

from tests.conftest import ROOT
from tests.support import fake_tlc

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture(scope="module")
def gcp_months(release_root: Path) -> dict[tuple[str, int, int], fake_tlc.MonthFile]:
    # yellow 2020-01 is ~0.7 MB compressed: with 256 KiB upload chunks it crosses chunk boundaries.
    sizes = {("green", 2020, 1): 1_200, ("green", 2020, 2): 900, ("green", 2020, 3): 700, ("yellow", 2020, 1): 25_000}
    return {key: fake_tlc.write_month(release_root, SPECS[key[0]], *key[1:], rows, seed=11) for key, rows in sizes.items()}


@pytest.fixture(scope="module")
def bq(gcp_emulators):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(project=gcp_emulators.project, credentials=AnonymousCredentials())


@pytest.fixture(scope="module")
def gcs(gcp_emulators):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=gcp_emulators.project, credentials=AnonymousCredentials())


@pytest.fixture
def lake(gcp_emulators, gcs) -> None:
    """Bucket and dataset exist: gcp_setup has run (once; later runs would only skip)."""
    if not gcs.bucket("ny-taxi-lake").exists():
        assert str(dagbag_dag("gcp_setup").test().state) == "success"


def dagbag_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags[dag_id]


def run_gcp_month(taxi: str, year: int, month: int):
    from taxi_pipeline.factory import build_taxi_dag

    hour = int(SPECS[taxi].schedule.split()[1])
    return build_taxi_dag("gcp", taxi).test(logical_date=datetime(year, month, 1, hour, tzinfo=timezone.utc))


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def rows_per_file(bq, table: str) -> dict[str, int]:
    rows = bq.query(f"SELECT filename, COUNT(*) AS n FROM `ny-taxi-local.ny_taxi.{table}` GROUP BY filename").result()
    return {row["filename"]: row["n"] for row in rows}


def test_gcp_setup_creates_then_skips(gcp_emulators, bq, gcs, capfd):
    dag = dagbag_dag("gcp_setup")
    first = dag.test()
    assert str(first.state) == "success", states(first)
    assert gcs.bucket("ny-taxi-lake").exists()
    assert bq.get_dataset("ny-taxi-local.ny_taxi").dataset_id == "ny_taxi"
    capfd.readouterr()
    second = dag.test()
    assert str(second.state) == "success", states(second)
    out = capfd.readouterr().out
    assert "already exists" in out  # the bucket step found it and did nothing


def test_months_merge_once_with_course_ids(gcp_emulators, lake, bq, gcs, source, gcp_months, capfd):
    jan, feb = gcp_months[("green", 2020, 1)], gcp_months[("green", 2020, 2)]

    run = run_gcp_month("green", 2020, 1)
    assert str(run.state) == "success", states(run)
    assert rows_per_file(bq, "green_tripdata") == {"green_tripdata_2020-01.csv": jan.data_lines}
    # The lake keeps the source object byte for byte; the monthly table is gone.
    blob = gcs.bucket("ny-taxi-lake").get_blob("green/green_tripdata_2020-01.csv.gz")
    assert blob is not None and blob.size == jan.path.stat().st_size
    assert blob.download_as_bytes() == jan.path.read_bytes()
    assert "green_tripdata_2020_01" not in {t.table_id for t in bq.list_tables("ny-taxi-local.ny_taxi")}
    # unique_row_id is BigQuery's MD5 of the course's five fields.
    mismatches = list(bq.query(
        """SELECT COUNTIF(unique_row_id != MD5(CONCAT(
               COALESCE(CAST(VendorID AS STRING), ""), COALESCE(CAST(lpep_pickup_datetime AS STRING), ""),
               COALESCE(CAST(lpep_dropoff_datetime AS STRING), ""), COALESCE(CAST(PULocationID AS STRING), ""),
               COALESCE(CAST(DOLocationID AS STRING), "")))) AS bad, COUNT(*) AS n
           FROM `ny-taxi-local.ny_taxi.green_tripdata`"""
    ).result())[0]
    assert mismatches["bad"] == 0 and mismatches["n"] == jan.data_lines
    out = capfd.readouterr().out
    assert f"green 2020-01: {jan.data_lines:,} rows in the monthly table, {jan.data_lines:,} inserted" in out
    assert "gs://ny-taxi-lake/green/green_tripdata_2020-01.csv.gz" in out

    rerun = run_gcp_month("green", 2020, 1)
    assert str(rerun.state) == "success", states(rerun)
    assert f"{jan.data_lines:,} rows in the monthly table, 0 inserted" in capfd.readouterr().out
    assert rows_per_file(bq, "green_tripdata") == {"green_tripdata_2020-01.csv": jan.data_lines}

    assert str(run_gcp_month("green", 2020, 2).state) == "success"
    assert rows_per_file(bq, "green_tripdata") == {
        "green_tripdata_2020-01.csv": jan.data_lines,
        "green_tripdata_2020-02.csv": feb.data_lines,
    }


def test_yellow_month_uploaded_in_several_chunks(gcp_emulators, lake, bq, gcs, source, gcp_months, monkeypatch):
    monkeypatch.setenv("NY_TAXI_GCS_CHUNK_KIB", "256")
    jan = gcp_months[("yellow", 2020, 1)]
    run = run_gcp_month("yellow", 2020, 1)
    assert str(run.state) == "success", states(run)
    assert rows_per_file(bq, "yellow_tripdata") == {"yellow_tripdata_2020-01.csv": jan.data_lines}
    assert jan.gz_bytes > 2 * 256 * 1024  # three chunks
    blob = gcs.bucket("ny-taxi-lake").get_blob("yellow/yellow_tripdata_2020-01.csv.gz")
    assert blob.download_as_bytes() == jan.path.read_bytes()  # every chunk, in order, nothing more
    table = bq.get_table("ny-taxi-local.ny_taxi.yellow_tripdata")
    assert [f.name for f in table.schema][:3] == ["unique_row_id", "filename", "VendorID"]
    assert table.schema[0].field_type == "BYTES"
    # Emulator limit: bqemulator accepts PARTITION BY but does not report time_partitioning on the
    # table, so the partitioning is asserted on the DDL the DAG ran (see the render test below).


def test_rendered_create_table_is_partitioned_by_pickup_date():
    from taxi_pipeline.sql_templates import render

    ddl = render("bigquery/create_table.sql", taxi=YELLOW)
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS yellow_tripdata (")  # in the job's default dataset
    assert ddl.rstrip().endswith("PARTITION BY DATE(tpep_pickup_datetime)")
    assert "unique_row_id BYTES" in ddl and "fare_amount NUMERIC" in ddl and "VendorID STRING" in ddl
    assert "tpep_pickup_datetime TIMESTAMP OPTIONS (description = 'The date and time when the meter was engaged.')" in ddl


def test_rendered_merge_prunes_to_the_months_partitions():
    """The MERGE restricts the target to the partitions the month touches, as constants."""
    from taxi_pipeline.sql_templates import render

    sql = render("bigquery/merge.sql", taxi=GREEN, filename="green_tripdata_2020-01.csv", present=GREEN.dtc_columns,
                 monthly_table="green_tripdata_2020_01", dates=["2009-01-01", "2020-01-31"], null_pickups=False)
    assert "MERGE INTO green_tripdata AS T" in sql
    assert "FROM green_tripdata_2020_01 AS S" in sql
    assert 'AND (DATE(T.lpep_pickup_datetime) IN UNNEST(ARRAY<DATE>[DATE "2009-01-01", DATE "2020-01-31"]))' in sql
    assert "WHEN NOT MATCHED THEN" in sql and "WHEN MATCHED" not in sql


def test_parquet_lake_option(gcp_emulators, lake, bq, gcs, source, gcp_months, monkeypatch):
    """NY_TAXI_GCP_FILE_FORMAT=parquet: converted in a stream, loaded as PARQUET, same ids and counts."""
    monkeypatch.setenv("NY_TAXI_GCP_FILE_FORMAT", "parquet")
    monkeypatch.setenv("NY_TAXI_GCS_CHUNK_KIB", "256")
    mar = gcp_months[("green", 2020, 3)]
    run = run_gcp_month("green", 2020, 3)
    assert str(run.state) == "success", states(run)
    blob = gcs.bucket("ny-taxi-lake").get_blob("green/green_tripdata_2020-03.parquet")
    assert blob is not None and blob.download_as_bytes()[:4] == b"PAR1"
    assert rows_per_file(bq, "green_tripdata")["green_tripdata_2020-03.csv"] == mar.data_lines
    nulls = list(bq.query(
        "SELECT COUNTIF(VendorID IS NULL) AS vendor, COUNTIF(ehail_fee IS NULL) AS ehail, COUNT(*) AS n "
        "FROM `ny-taxi-local.ny_taxi.green_tripdata` WHERE filename = 'green_tripdata_2020-03.csv'").result())[0]
    blank_vendor = sum(1 for row in fake_tlc.read_rows(mar.path)[1] if row[0] == "")
    assert nulls["vendor"] == blank_vendor and nulls["ehail"] == nulls["n"] == mar.data_lines


def test_a_tlc_parquet_month_goes_into_the_lake_as_it_is(gcp_emulators, lake, bq, gcs, tmp_path, monkeypatch):
    """The TLC's parquet (yellow 2023-03: Airport_fee, VendorID int32) is uploaded unchanged, loaded as
    PARQUET with its own types, and merged cast to the table's: the same ids as the same trips from csv.gz."""
    from tests.support import fake_parquet
    from tests.support.http_server import FixtureServer
    from taxi_pipeline.months import Month

    month = Month(2023, 3)
    csv = fake_tlc.write_month(tmp_path / "dtc", YELLOW, month.year, month.month, 2_000, seed=23)
    path = fake_parquet.from_csv(csv.path, "yellow", month, tmp_path / "tlc")
    monkeypatch.setenv("NY_TAXI_SOURCE", "tlc")
    monkeypatch.setenv("NY_TAXI_END_MONTH", "2023-12")
    with FixtureServer(tmp_path / "tlc") as server:
        monkeypatch.setenv("AIRFLOW_VAR_NY_TAXI_SOURCE", server.base_url)
        run = run_gcp_month("yellow", 2023, 3)
    assert str(run.state) == "success", states(run)
    blob = gcs.bucket("ny-taxi-lake").get_blob("yellow/yellow_tripdata_2023-03.parquet")
    assert blob.download_as_bytes() == path.read_bytes()  # as it is
    table = "`ny-taxi-local.ny_taxi.yellow_tripdata`"
    where = "WHERE filename = 'yellow_tripdata_2023-03.csv'"
    got = list(bq.query(f"SELECT COUNT(*) AS n, COUNT(airport_fee) AS fee, COUNT(DISTINCT TO_HEX(unique_row_id)) AS ids "
                        f"FROM {table} {where}").result())[0]
    assert (got["n"], got["fee"]) == (2_000, 667)  # fake_parquet: every third row has an airport fee
    from_parquet = sorted(r["id"] for r in bq.query(f"SELECT TO_HEX(unique_row_id) AS id FROM {table} {where}").result())
    bq.query(f"DELETE FROM {table} {where}").result()
    monkeypatch.setenv("AIRFLOW_VAR_NY_TAXI_SOURCE", str(tmp_path / "dtc"))
    again = run_gcp_month("yellow", 2023, 3)  # the same trips, from the csv.gz
    assert str(again.state) == "success", states(again)
    from_csv = sorted(r["id"] for r in bq.query(f"SELECT TO_HEX(unique_row_id) AS id FROM {table} {where}").result())
    assert from_csv == from_parquet


def test_each_load_writes_its_audit_row_and_a_failed_check_fails_the_run(gcp_emulators, lake, bq, source,
                                                                          release_root, capfd):
    """ny_taxi_loads gets one row per load (the job right after the MERGE); check_quality runs the
    spec's checks through BigQueryTableCheckOperator and records them in that row."""
    import hashlib

    from tests.test_quality_and_audit import _spoil

    good = fake_tlc.write_month(release_root, GREEN, 2020, 8, 800, seed=12)
    bad = fake_tlc.write_month(release_root, GREEN, 2020, 9, 800, seed=13)
    _spoil(bad.path, "total_amount", "-7.5", every=20)

    def audit(filename: str) -> list[dict]:
        rows = bq.query("SELECT *, TO_JSON_STRING(quality) AS verdicts FROM `ny-taxi-local.ny_taxi.ny_taxi_loads` "
                        f"WHERE filename = '{filename}' ORDER BY finished_at").result()
        return [dict(row.items()) for row in rows]

    run = run_gcp_month("green", 2020, 8)
    assert str(run.state) == "success", states(run)
    (row,) = audit("green_tripdata_2020-08.csv")
    assert (row["dag_id"], row["run_id"], row["try_number"], row["taxi"]) == ("gcp_taxi_green", run.run_id, 1, "green")
    assert row["sha256"] == hashlib.sha256(good.path.read_bytes()).hexdigest()
    assert row["compressed_bytes"] == good.gz_bytes and row["source_url"].endswith("/green/green_tripdata_2020-08.csv.gz")
    assert (row["rows_in_file"], row["inserted_rows"], row["skipped_rows"]) == (800, 800, 0)
    assert '"verdict":"ok"' in row["verdicts"]

    failed = run_gcp_month("green", 2020, 9)
    assert str(failed.state) == "failed"
    assert states(failed)["hash_merge"] == "success" and states(failed)["check_quality"] == "failed"
    assert rows_per_file(bq, "green_tripdata")["green_tripdata_2020-09.csv"] == 800  # the rows stay
    (row,) = audit("green_tripdata_2020-09.csv")
    assert '"verdict":"fail"' in row["verdicts"]
    assert ("green_tripdata_2020-09.csv: 1 quality check(s) failed (the rows stay loaded): negative_total_amount: "
            in capfd.readouterr().out)

    # The "Taxi loads" page's BigQuery query (monitor/sources.py) reads both loads into their cells.
    from taxi_pipeline.monitor import sources, status
    from taxi_pipeline.months import Month, Window

    window = Window(Month(2020, 8), Month(2020, 9))
    loads = sources.bigquery_loads(window, project=gcp_emulators.project, dataset="ny_taxi")
    cells = status.grid([status.TypeWindow("green", window, open_source=False)], loads, []).cells
    assert [(c.state.value, c.detail, c.run_id) for c in cells] == [
        ("loaded", "800 rows, 800 inserted", run.run_id),
        ("quality_failed", "quality failed: negative_total_amount", failed.run_id)]


def test_the_dbt_models_build_on_the_bigquery_emulator(gcp_emulators, lake, source, gcp_months, bq, tmp_path):
    """dbt-bigquery's own SQL on the emulator (profile target bigquery_emulator): the models build
    on the GCP DAGs' tables, equal the raw rows, and a month's rebuild (merge) changes nothing."""
    import json
    import subprocess

    for month in (2, 3):
        assert str(run_gcp_month("green", 2020, month).state) == "success"
    project = ROOT / "dbt" / "taxi_rides_ny"
    env = {**os.environ, "DBT_PROFILES_DIR": str(project), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}

    def dbt(*args: str) -> str:
        done = subprocess.run([str(ROOT / ".venv-dbt" / "bin" / "dbt"), *args, "--target", "bigquery_emulator",
                               "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
                              cwd=project, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-4000:]
        return done.stdout

    def table(sql: str) -> dict:
        return {tuple(row.values())[0]: tuple(row.values())[1:] for row in bq.query(sql).result()}

    dbt("build", "--vars", "{raw_schema: ny_taxi}")
    raw = table("SELECT filename, COUNT(DISTINCT unique_row_id) FROM `ny-taxi-local.ny_taxi.green_tripdata` GROUP BY 1")
    facts = table("SELECT filename, COUNT(*) FROM `ny-taxi-local.analytics.fact_trips` WHERE service_type = 'Green' GROUP BY 1")
    assert facts == raw and GREEN.filename(2020, 3) in facts
    revenue = table("SELECT filename, SUM(total_monthly_trips) FROM `ny-taxi-local.analytics.dm_monthly_zone_revenue` "
                    "WHERE service_type = 'Green' GROUP BY 1")
    assert revenue == raw
    before = table("SELECT filename, COUNT(*), SUM(total_amount) FROM `ny-taxi-local.analytics.fact_trips` GROUP BY 1")
    out = dbt("run", "--select", "fact_trips", "dm_monthly_zone_revenue", "--vars",
              f"{{raw_schema: ny_taxi, filenames: {GREEN.filename(2020, 2)}}}")
    assert f"fact_trips: rebuilding 1 file(s): {GREEN.filename(2020, 2)}" in out
    assert table("SELECT filename, COUNT(*), SUM(total_amount) FROM `ny-taxi-local.analytics.fact_trips` GROUP BY 1") == before
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    assert {r["status"] for r in results} == {"success"}
