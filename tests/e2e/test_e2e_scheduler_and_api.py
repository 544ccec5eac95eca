"""Catchup, months in parallel and REST/UI triggers of ``postgres_taxi_green`` on a real Airflow.

One Airflow (api-server, scheduler, dag-processor, LocalExecutor, Postgres metadata DB) serves the
whole module; the DAG window is narrowed to 2019-01..2019-03 through ``NY_TAXI_START_MONTH`` /
``NY_TAXI_END_MONTH`` and ``NY_TAXI_MAX_ACTIVE_RUNS=3`` lets the three months run at once.

``dbt_taxi_postgres`` is unpaused before the catchup: the months landing (Asset events of the
green table) trigger its builds, which must end with the models holding every loaded row.

Alerts go to a real SMTP server on 127.0.0.1 (``NY_TAXI_ALERT=smtp``, with the success summary):
the task callbacks run in the scheduler's worker processes, as in a deployment.

DAGs are created *paused* here (``make airflow-up`` creates them unpaused): the dags folder holds
other DAGs (yellow, GCP) whose catchup would only compete for the two cores, and unpausing
``postgres_taxi_green`` is exactly what a user does to start its catchup.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from taxi_pipeline.specs import GREEN
from tests.support import fake_tlc
from tests.support.e2e_airflow import E2EAirflow, running_airflow
from tests.support.http_server import FixtureServer
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.e2e

DAG_ID = "postgres_taxi_green"
DBT_DAG_ID = "dbt_taxi_postgres"
# Different sizes per month, so a month loaded under another month's name cannot go unnoticed.
MONTHS = {(2019, 1): 3_000, (2019, 2): 2_500, (2019, 3): 2_000}


@pytest.fixture(scope="module")
def release(e2e_dir: Path) -> dict[tuple[int, int], fake_tlc.MonthFile]:
    return {
        (year, month): fake_tlc.write_month(e2e_dir / "release", GREEN, year, month, rows, seed=month)
        for (year, month), rows in MONTHS.items()
    }


@pytest.fixture(scope="module")
def server(e2e_dir: Path, release) -> FixtureServer:
    with FixtureServer(e2e_dir / "release") as server:
        yield server


@pytest.fixture(scope="module")
def smtp() -> SmtpServer:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def airflow(pg_server, e2e_dir: Path, server: FixtureServer, smtp: SmtpServer) -> E2EAirflow:
    alerts = {"NY_TAXI_ALERT": "smtp", "NY_TAXI_ALERT_TO": "data-team@example.com", "NY_TAXI_ALERT_ON_SUCCESS": "true",
              "AIRFLOW_CONN_SMTP_DEFAULT": smtp.conn_uri}
    with running_airflow(
        name="green", run_dir=e2e_dir / "airflow", pg_server=pg_server, source_url=server.base_url,
        window=("2019-01", "2019-03"), dag_env={"NY_TAXI_MAX_ACTIVE_RUNS": "3", **alerts},
    ) as airflow:
        yield airflow


@pytest.fixture(scope="module")
def db(airflow: E2EAirflow):
    import psycopg

    with psycopg.connect(airflow.taxi_db_uri, autocommit=True) as conn:
        yield conn


@dataclass
class Catchup:
    runs: list[dict]
    seconds: float


@pytest.fixture(scope="module")
def catchup(airflow: E2EAirflow) -> Catchup:
    """Unpause the DAG and wait (bounded) until the scheduler's catchup runs have finished."""
    assert airflow.runs(DAG_ID) == []
    airflow.set_paused(DBT_DAG_ID, False)  # scheduled on the green table's Asset: each month landing triggers it
    started = time.monotonic()
    airflow.set_paused(DAG_ID, False)
    runs = airflow.wait_runs_done(DAG_ID, len(MONTHS), timeout=300, select=lambda r: r["run_type"] == "scheduled")
    seconds = time.monotonic() - started
    print(f"catchup of {len(MONTHS)} months: {seconds:.1f} s from unpause to the last run finished")
    return Catchup(runs, seconds)


def rows_per_file(db) -> dict[str, int]:
    if not db.execute("SELECT to_regclass('public.green_tripdata') IS NOT NULL").fetchone()[0]:
        return {}
    return dict(db.execute("SELECT filename, count(*) FROM green_tripdata GROUP BY 1").fetchall())


def fingerprint(db, where: str = "true") -> tuple[int, str]:
    return db.execute(
        f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM green_tripdata t WHERE {where}"
    ).fetchone()


def expected_rows(release) -> dict[str, int]:
    return {GREEN.filename(y, m): f.data_lines for (y, m), f in release.items()}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_catchup_creates_exactly_the_window_runs_and_loads_each_file_once(airflow, catchup, release, db):
    runs = airflow.runs(DAG_ID)
    assert [(r["logical_date"], r["run_type"], r["state"]) for r in runs] == [
        (f"2019-{m:02d}-01T09:00:00Z", "scheduled", "success") for m in (1, 2, 3)
    ]
    # The window is done: the scheduler has no next run to create.
    assert airflow.dag(DAG_ID)["next_dagrun_logical_date"] is None
    assert rows_per_file(db) == expected_rows(release)
    assert db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'taxi_staging'").fetchone()[0] == 0


def test_each_run_says_what_it_loaded_in_its_note_the_audit_and_a_message(airflow, catchup, release, db, smtp):
    """check_quality set each run's note through the REST API; the audit has one row per month; the
    success summaries reached the SMTP server from the worker's callbacks."""
    for run in airflow.runs(DAG_ID):
        month = run["logical_date"][:7]
        rows = release[(int(month[:4]), int(month[5:]))].data_lines
        summary = f"green {month}: {rows:,} rows inserted, 0 skipped, quality ok"
        assert run["note"] == summary, run
        assert smtp.wait_for(summary)["subject"] == f"[ny_taxi] {DAG_ID} {summary}"
    audit = db.execute("SELECT filename, inserted_rows, quality->>'verdict' FROM ny_taxi_audit.loads ORDER BY 1").fetchall()
    assert audit == [(GREEN.filename(y, m), f.data_lines, "ok") for (y, m), f in sorted(release.items())]


def test_catchup_ran_months_in_parallel_without_failures_or_duplicates(airflow, catchup, release, db):
    assert airflow.dag(DAG_ID)["max_active_runs"] == 3
    # Runs overlapped: some moment had at least two months running.
    spans = sorted((when(r["start_date"]), when(r["end_date"])) for r in catchup.runs)
    overlaps = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if b[0] < a[1]]
    assert overlaps, f"runs did not overlap: {spans}"
    # No failure anywhere, not even one that a retry would have hidden (NY_TAXI_RETRIES=0 here).
    for run in catchup.runs:
        states = {t: (ti["state"], ti["try_number"]) for t, ti in airflow.task_instances(DAG_ID, run["dag_run_id"]).items()}
        assert set(states.values()) == {("success", 1)}, (run["dag_run_id"], states)
    # No duplicates: each file's loaded ids are exactly the ids of its lines (in-file repeats included).
    for (year, month), month_file in release.items():
        expected = sorted(fake_tlc.unique_row_id(GREEN, row) for row in fake_tlc.read_rows(month_file.path)[1])
        loaded = [r[0] for r in db.execute(
            "SELECT unique_row_id FROM green_tripdata WHERE filename = %s ORDER BY 1", (GREEN.filename(year, month),)
        ).fetchall()]
        assert loaded == expected, (year, month)


def test_api_trigger_with_params_and_no_logical_date_loads_that_month(airflow, catchup, release, server, db):
    """The UI's Trigger form posts exactly this. The month was loaded by catchup; we delete it
    first, so the manual run has something to insert and we can see it load that month only."""
    feb = release[(2019, 2)]
    filename = GREEN.filename(2019, 2)
    db.execute("DELETE FROM green_tripdata WHERE filename = %s", (filename,))
    others = fingerprint(db)
    gets_before = server.count(feb.url_path, method="GET")

    status, run = airflow.trigger(DAG_ID, {"year": 2019, "month": 2})
    assert status == 200, run
    assert run["logical_date"] is None and run["run_type"] == "manual"
    [done] = airflow.wait_runs_done(DAG_ID, 1, timeout=180, select=lambda r: r["dag_run_id"] == run["dag_run_id"])

    assert done["state"] == "success"
    assert rows_per_file(db) == expected_rows(release)
    assert fingerprint(db, f"filename <> '{filename}'") == others
    merged = airflow.xcom(DAG_ID, run["dag_run_id"], "hash_merge")
    assert {k: merged[k] for k in ("staged_rows", "inserted_rows", "skipped_rows", "placement")} == {
        "staged_rows": feb.data_lines, "inserted_rows": feb.data_lines, "skipped_rows": 0, "placement": "inserted"}  # its (empty) partition is there
    assert server.count(feb.url_path, method="GET") == gets_before + 1
    assert server.count(method="GET") == server.count(method="GET", status=200)  # only existing files asked for


def test_api_trigger_outside_the_window_fails_at_wait_for_file_before_any_sql(airflow, catchup, server, db, smtp):
    """2018 passes the form's schema (any integer year), so Airflow creates the run; the first
    task (wait_for_file resolves the month before it looks) checks the window and fails naming the parameter; nothing downstream runs."""
    before = fingerprint(db)
    requests_before = len(server.requests)
    status, run = airflow.trigger(DAG_ID, {"year": 2018, "month": 12})
    assert status == 200, run
    [done] = airflow.wait_runs_done(DAG_ID, 1, timeout=180, select=lambda r: r["dag_run_id"] == run["dag_run_id"])

    assert done["state"] == "failed"
    tis = airflow.task_instances(DAG_ID, run["dag_run_id"])
    assert tis["wait_for_file"]["state"] == "failed" and tis["wait_for_file"]["try_number"] == 1
    assert {t: ti["state"] for t, ti in tis.items() if t != "wait_for_file"} == dict.fromkeys(
        ("load_staging", "hash_merge", "drop_staging", "check_quality"), "upstream_failed"
    )
    log = airflow.task_log(DAG_ID, run["dag_run_id"], "wait_for_file")
    assert "year/month: 2018-12 is outside this DAG's window 2019-01..2019-03" in log
    # One alert, from the worker's failure callback: the month, the task, the error, the log's URL.
    alert = smtp.text(smtp.wait_for("wait_for_file failed"))
    assert "Month: green (month not resolved: year/month: 2018-12 is outside this DAG's window" in alert
    assert "Failed task: wait_for_file (try 1)" in alert
    assert f"Log: {airflow.local.s.base_url}/dags/{DAG_ID}/runs/" in alert
    assert fingerprint(db) == before  # no SQL ran
    assert len(server.requests) == requests_before  # no download


def test_api_trigger_with_month_13_is_refused_by_the_param_schema(airflow, catchup):
    runs_before = len(airflow.runs(DAG_ID))
    status, body = airflow.trigger(DAG_ID, {"year": 2019, "month": 13})
    assert status == 400
    assert "Invalid input for param month: 13 is greater than or equal to the maximum of 13" in body["detail"]
    assert len(airflow.runs(DAG_ID)) == runs_before  # no run was created


def test_months_landing_trigger_dbt_builds_of_the_files_that_landed(airflow, catchup, release, db):
    """The merge's Asset events (extra: the file, its inserted rows) trigger dbt_taxi_postgres; its
    cosmos tasks rebuild the files the events name. Runs this module's other tests queued (the
    manual re-load of 2019-02) are waited for too: at the end the models hold every loaded trip."""
    def settled() -> list[dict] | None:
        queued = airflow.api("GET", f"/dags/{DBT_DAG_ID}/assets/queuedEvents", expect=(200, 404))
        runs = airflow.runs(DBT_DAG_ID)
        done = runs and all(r["state"] in ("success", "failed") for r in runs)
        return runs if done and not (queued or {}).get("queued_events") else None

    runs = airflow.wait_for("the dbt builds", settled, timeout=600, every=5)
    assert {r["run_type"] for r in runs} == {"asset_triggered"} and {r["state"] for r in runs} == {"success"}, runs
    # The first build creates the tables (every row); each later one rebuilds the files its events named.
    assert len(runs) >= 2, runs  # the manual re-load of 2019-02 above triggered one more at least
    for run in runs[1:]:
        log = json.loads(airflow.task_log(DBT_DAG_ID, run["dag_run_id"], "fact_trips_model_build"))
        events = [e.get("event", "") for e in log]
        [landed] = [e.removeprefix("files landed: ") for e in events if e.startswith("files landed: ")]
        assert set(landed.split(", ")) <= set(expected_rows(release)), landed
        rebuilt = f"fact_trips: rebuilding {len(landed.split(', '))} file(s): {landed}"
        assert any(rebuilt in e for e in events), (rebuilt, events)
    # After the last build, fact_trips holds each loaded trip once, and the mart counts them.
    trips = dict(db.execute("SELECT filename, count(*) FROM analytics.fact_trips GROUP BY 1").fetchall())
    distinct = dict(db.execute("SELECT filename, count(DISTINCT unique_row_id) FROM green_tripdata GROUP BY 1").fetchall())
    assert trips == distinct and set(trips) == set(expected_rows(release))
    revenue = dict(db.execute("SELECT filename, sum(total_monthly_trips) FROM analytics.dm_monthly_zone_revenue "
                              "GROUP BY 1").fetchall())
    assert revenue == distinct
