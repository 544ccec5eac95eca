"""The dbt project on the real Postgres: months loaded by the ingest DAGs (``dag.test()``), then
dbt (its own virtualenv, as cosmos runs it) builds the models.

* ``fact_trips`` and ``dm_monthly_zone_revenue`` equal an aggregation written here, in plain SQL,
  over the raw tables;
* one more month rebuilds that file only (what dbt logs and reports in run_results.json);
* a re-load plus a rebuild changes nothing;
* a failing dbt test fails its cosmos task, naming the test;
* the sources file is the one specs.py renders; the project parses for the BigQuery target (its
  build on the emulator is in test_gcp_pipeline.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from taxi_pipeline.analytics import sources
from taxi_pipeline.specs import SPECS

from tests.conftest import ROOT
from tests.support import fake_tlc
from tests.test_postgres_pipeline import run_month, task_states

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

PROJECT = ROOT / "dbt" / "taxi_rides_ny"
DBT = ROOT / ".venv-dbt" / "bin" / "dbt"
# Months no other test writes into the session's release directory (tests share it).
FIRST = {("green", 2019, 9): 3_000, ("green", 2019, 10): 2_500, ("yellow", 2019, 9): 4_000}
LATER = ("yellow", 2019, 10)


@pytest.fixture(scope="module")
def months(release_root: Path) -> dict[tuple[str, int, int], fake_tlc.MonthFile]:
    sizes = {**FIRST, LATER: 3_500}
    return {key: fake_tlc.write_month(release_root, SPECS[key[0]], *key[1:], rows, seed=5, duplicate_rows=40)
            for key, rows in sizes.items()}


class Dbt:
    """dbt against one test database, with its target and logs in a directory of the test's."""

    def __init__(self, pg_server, database: str, work: Path) -> None:
        self.work = work
        self.env = {**os.environ, "DBT_PROFILES_DIR": str(PROJECT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                    "NY_TAXI_PG_PORT": str(pg_server.port), "NY_TAXI_PG_DB": database}

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(DBT), *args, "--target-path", str(self.work / "target"), "--log-path",
                               str(self.work / "logs")], cwd=PROJECT, env=self.env, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"dbt {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def rows_affected(self) -> dict[str, int]:
        results = json.loads((self.work / "target" / "run_results.json").read_text())["results"]
        return {r["unique_id"].split(".")[-1]: r["adapter_response"].get("rows_affected")
                for r in results if r["unique_id"].startswith("model.")}


@pytest.fixture
def dbt(pg_server, taxi_db, tmp_path: Path) -> Dbt:
    return Dbt(pg_server, taxi_db.info.dbname, tmp_path)


def load(*keys: tuple[str, int, int]) -> None:
    for taxi, year, month in keys:
        run = run_month(taxi, year, month)
        assert str(run.state) == "success", task_states(run)


def _deduplicated(taxi: str) -> str:
    """The raw table, one row per (filename, unique_row_id): the copy staging keeps (the first in
    the order of all columns), with the file's month and the service type."""
    spec = SPECS[taxi]
    order = ", ".join(c.name for c in spec.columns)
    return (f"SELECT DISTINCT ON (filename, unique_row_id) *, '{taxi.capitalize()}' AS service_type, "
            f"to_date(substring(filename from '(\\d{{4}}-\\d{{2}})\\.csv$'), 'YYYY-MM') AS file_month "
            f"FROM public.{spec.table} ORDER BY filename, unique_row_id, {order}")


# What the marts must hold, computed from the raw tables and the lookup without dbt's SQL.
EXPECTED_REVENUE = f"""
    WITH trips AS (
        SELECT filename, file_month, service_type, pulocationid::int AS zone_id, total_amount, fare_amount,
               trip_distance, passenger_count FROM ({_deduplicated('green')}) AS g
        UNION ALL
        SELECT filename, file_month, service_type, pulocationid::int, total_amount, fare_amount,
               trip_distance, passenger_count FROM ({_deduplicated('yellow')}) AS y
    )
    SELECT filename, zone.zone AS revenue_zone, file_month AS revenue_month, service_type,
           round(sum(total_amount)::numeric, 2) AS total, round(sum(fare_amount)::numeric, 2) AS fare,
           count(*) AS trips, round(avg(trip_distance)::numeric, 4) AS distance,
           round(avg(passenger_count)::numeric, 4) AS passengers
    FROM trips JOIN analytics.taxi_zone_lookup AS zone ON zone.locationid = trips.zone_id
    GROUP BY 1, 2, 3, 4
"""
ACTUAL_REVENUE = """
    SELECT filename, revenue_zone, revenue_month, service_type, round(revenue_monthly_total_amount, 2),
           round(revenue_monthly_fare, 2), total_monthly_trips, round(avg_monthly_trip_distance, 4),
           round(avg_monthly_passenger_count, 4)
    FROM analytics.dm_monthly_zone_revenue
"""
EXPECTED_TRIPS = f"""
    SELECT filename, unique_row_id, round(total_amount::numeric, 2), zone.zone
    FROM (SELECT filename, unique_row_id, total_amount, pulocationid FROM ({_deduplicated('green')}) AS g
          UNION ALL
          SELECT filename, unique_row_id, total_amount, pulocationid FROM ({_deduplicated('yellow')}) AS y) AS trips
    LEFT JOIN analytics.taxi_zone_lookup AS zone ON zone.locationid = trips.pulocationid::int
"""
ACTUAL_TRIPS = "SELECT filename, unique_row_id, round(total_amount, 2), pickup_zone FROM analytics.fact_trips"


def assert_marts_equal_the_raw_tables(db) -> None:
    for expected, actual in ((EXPECTED_TRIPS, ACTUAL_TRIPS), (EXPECTED_REVENUE, ACTUAL_REVENUE)):
        missing = db.execute(f"({expected}) EXCEPT ALL ({actual})").fetchall()
        extra = db.execute(f"({actual}) EXCEPT ALL ({expected})").fetchall()
        assert not missing and not extra, f"missing {missing[:3]}, unexpected {extra[:3]}"


def fingerprint(db) -> tuple:
    return db.execute(
        "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY filename, unique_row_id)) FROM analytics.fact_trips AS t"
    ).fetchone() + db.execute(
        "SELECT md5(string_agg(d::text, '|' ORDER BY filename, revenue_zone)) FROM analytics.dm_monthly_zone_revenue AS d"
    ).fetchone()


def test_the_sources_file_is_the_one_the_specs_render():
    assert sources.SOURCES_PATH.read_text() == sources.sources_yml(), "run `make dbt-sources`"


def test_models_equal_the_raw_tables_and_a_new_month_rebuilds_only_itself(taxi_db, source, months, dbt):
    load(*FIRST)
    duplicates = taxi_db.execute("SELECT count(*) - count(DISTINCT (filename, unique_row_id)) FROM public.green_tripdata").fetchone()[0]
    assert duplicates > 0  # the generated months repeat trips: one row each in the models
    first = dbt("build")
    assert "Completed successfully" in first.stdout
    assert_marts_equal_the_raw_tables(taxi_db)
    assert "yellow_tripdata: not loaded yet" not in first.stdout and "fhv_tripdata: not loaded yet" in first.stdout

    # One more month: only its file is rebuilt, and the marts still equal the raw tables.
    load(LATER)
    later = fake_tlc_filename(LATER)
    second = dbt("build")
    assert f"fact_trips: rebuilding 1 file(s): {later}" in second.stdout
    assert "fact_trips: rebuilding 0 file(s)" in second.stdout  # green's half of the union
    assert f"dm_monthly_zone_revenue: rebuilding 1 file(s): {later}" in second.stdout
    new_trips = taxi_db.execute("SELECT count(DISTINCT unique_row_id) FROM public.yellow_tripdata WHERE filename = %s",
                                (later,)).fetchone()[0]
    new_zones = taxi_db.execute("SELECT count(DISTINCT revenue_zone) FROM analytics.dm_monthly_zone_revenue "
                                "WHERE filename = %s", (later,)).fetchone()[0]
    affected = dbt.rows_affected()
    assert (affected["fact_trips"], affected["dm_monthly_zone_revenue"]) == (new_trips, new_zones)
    assert_marts_equal_the_raw_tables(taxi_db)
    built = fingerprint(taxi_db)

    # A re-load inserts nothing, so the rebuild after it rebuilds nothing and changes nothing.
    load(LATER)
    third = dbt("build")
    assert "fact_trips: rebuilding 0 file(s)" in third.stdout and dbt.rows_affected()["fact_trips"] == 0
    assert fingerprint(taxi_db) == built

    # The var an Asset-triggered run passes: that file's slice is replaced by the same rows.
    green = fake_tlc_filename(("green", 2019, 9))
    fourth = dbt("run", "--select", "fact_trips", "dm_monthly_zone_revenue", "--vars", f"{{filenames: {green}}}")
    assert f"fact_trips: rebuilding 1 file(s): {green}" in fourth.stdout
    assert fingerprint(taxi_db) == built

    bad = dbt("run", "--select", "fact_trips", "--vars", "{filenames: green_tripdata_2021-6.csv}", check=False)
    assert bad.returncode != 0
    assert "var filenames: green_tripdata_2021-6.csv is not a monthly filename like green_tripdata_2021-01.csv" in bad.stdout


def fake_tlc_filename(key: tuple[str, int, int]) -> str:
    return SPECS[key[0]].filename(*key[1:])


def test_a_type_never_loaded_builds_empty(taxi_db, source, months, dbt):
    load(("green", 2019, 9))
    done = dbt("build", "--select", "+fact_trips", "--indirect-selection", "cautious")
    assert "yellow_tripdata: not loaded yet, read as empty" in done.stdout
    assert taxi_db.execute("SELECT count(DISTINCT service_type) FROM analytics.fact_trips").fetchone()[0] == 1


def test_a_failing_dbt_test_fails_its_task_naming_the_test(taxi_db, source, months, capfd, caplog):
    """Through the cosmos DAG: a trip with payment type 9 (not in the data dictionary) fails
    fact_trips's task; the run says which test failed, and what depends on it does not run."""
    from taxi_pipeline.analytics.dags import build_dbt_dag

    load(("green", 2019, 9))
    taxi_db.execute("INSERT INTO public.green_tripdata (unique_row_id, filename, vendorid, lpep_pickup_datetime, "
                    "lpep_dropoff_datetime, pulocationid, dolocationid, payment_type, total_amount) VALUES "
                    "('not-a-real-id', 'green_tripdata_2019-09.csv', '2', '2019-09-03 10:00', '2019-09-03 10:10', '7', '8', 9, 12.5)")
    dag = build_dbt_dag("postgres")
    run = dag.test(logical_date=datetime(2021, 7, 1, tzinfo=timezone.utc), run_conf={"full_refresh": True})
    states = task_states(run)
    assert str(run.state) == "failed", states
    assert states["fact_trips_model_build"] == "failed" and states["dm_monthly_zone_revenue_model_build"] == "upstream_failed"
    assert states["stg_green_tripdata_model_build"] == "success" and states["dbt_command"] == "skipped"
    out = capfd.readouterr()
    assert "Failure in test accepted_values_fact_trips_payment_type" in out.out + out.err + caplog.text


def test_a_dbt_process_that_loses_the_race_to_create_the_schema_goes_on(dbt, taxi_db, pg_server):
    """The cosmos DAG's first tasks are dbt processes started together, each creating the target
    schema if missing (the e2e saw the loser fail: "Key (nspname)=(analytics) already exists").
    Made deterministic: another session has created the schema and not committed yet, so dbt's
    CREATE SCHEMA waits on it and meets the committed one (macros/schemas.sql). Without that macro
    this dbt seed fails (checked)."""
    import psycopg

    racer = psycopg.connect(pg_server.uri(taxi_db.info.dbname))
    try:
        racer.execute("CREATE SCHEMA analytics")  # in an open transaction
        seeding = subprocess.Popen([str(DBT), "seed", "--target-path", str(dbt.work / "target"), "--log-path",
                                    str(dbt.work / "logs")], cwd=PROJECT, env=dbt.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while not taxi_db.execute("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND wait_event_type = 'Lock' AND query ILIKE '%create schema%'").fetchone():
            assert seeding.poll() is None and time.monotonic() < deadline, "dbt never waited on the schema"
            time.sleep(0.2)
        racer.commit()
        out, _ = seeding.communicate(timeout=300)
    finally:
        racer.close()
    assert seeding.returncode == 0, out
    zones = len((PROJECT / "seeds" / "taxi_zone_lookup.csv").read_text().splitlines()) - 1  # its header
    assert taxi_db.execute("SELECT count(*) FROM analytics.taxi_zone_lookup").fetchone()[0] == zones


def test_the_bigquery_target_parses_with_its_strategy(tmp_path: Path):
    """Offline, no emulator: the bigquery target's config (merge, partitioned by file_month)."""
    env = {**os.environ, "DBT_PROFILES_DIR": str(PROJECT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([str(DBT), "parse", "--target", "bigquery", "--target-path", str(tmp_path)], cwd=PROJECT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    fact = manifest["nodes"]["model.taxi_rides_ny.fact_trips"]["config"]
    assert fact["incremental_strategy"] == "merge" and fact["partition_by"]["field"] == "file_month"


def test_the_committed_manifest_is_what_dbt_parses_now(tmp_path: Path):
    """cosmos renders the DAGs from dbt/taxi_rides_ny/manifest.json (committed: parsing needs no dbt);
    a model changed without `make dbt-manifest` fails here. dbt parses afresh into a temp target."""
    from taxi_pipeline.analytics import manifest

    env = {**os.environ, "DBT_PROFILES_DIR": str(PROJECT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([str(DBT), "parse", "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
                          cwd=PROJECT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    fresh = manifest.manifest_text(json.loads((tmp_path / "target" / "manifest.json").read_text()))
    committed = (PROJECT / "manifest.json").read_text()
    assert committed == fresh, "dbt/taxi_rides_ny/manifest.json is stale: run `make dbt-manifest` and commit it"


def test_without_dbt_a_run_fails_in_choose_command_naming_make_venv_dbt(tmp_path: Path, capfd, caplog):
    """The DAG parses without dbt; its run fails in its first task with one line, no dbt process
    started (no FileNotFoundError traceback), and nothing after it runs."""
    from taxi_pipeline.analytics.dags import build_dbt_dag
    from taxi_pipeline.settings import Settings

    missing = tmp_path / "no-venv-dbt" / "dbt"
    dag = build_dbt_dag("postgres", settings=Settings.from_env(dbt_executable=str(missing)))
    run = dag.test(logical_date=datetime(2021, 7, 1, tzinfo=timezone.utc))
    states = task_states(run)
    assert str(run.state) == "failed" and states["choose_command"] == "failed", states
    assert {state for task, state in states.items() if task != "choose_command"} <= {"upstream_failed", "None"}, states
    out = capfd.readouterr()
    logged = out.out + out.err + caplog.text
    assert f"NY_TAXI_DBT_EXECUTABLE: {missing} is not an executable: `make venv-dbt` installs dbt there" in logged
    assert "FileNotFoundError" not in logged


@pytest.mark.skipif(not os.environ.get("NY_TAXI_REAL_MIRROR"), reason="set NY_TAXI_REAL_MIRROR to a mirror of real files")
def test_real_green_2020_months_pass_every_dbt_test(taxi_db, monkeypatch, tmp_path, pg_server):
    """Opt-in: the real green 2020 files of a mirror (dtc layout) load and pass every dbt test."""
    monkeypatch.setenv("AIRFLOW_VAR_NY_TAXI_SOURCE", os.environ["NY_TAXI_REAL_MIRROR"])
    monkeypatch.setenv("NY_TAXI_START_MONTH", "2019-01")
    load(*(("green", 2020, m) for m in range(1, 13)))
    done = Dbt(pg_server, taxi_db.info.dbname, tmp_path)("build")
    assert "Completed successfully" in done.stdout
