"""All of a month or none of it: the load process SIGKILLed between COPY and MERGE and during the
MERGE, and Postgres restarted while a month streams in. Real processes, real Postgres.

The killed run is a child process running ``dag.test()``; the test decides *when* it dies by
watching the child's Postgres backend in ``pg_stat_activity``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

import psycopg
import pytest

from taxi_pipeline.specs import GREEN

from tests.conftest import ROOT
from tests.support import fake_tlc
from tests.support.http_server import Fault
from tests.test_postgres_pipeline import rows_per_file, run_month, staging_tables, table_fingerprint, task_states

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

CHILD = """
import sys
from datetime import datetime, timezone
sys.path[:0] = [{plugins!r}, {root!r}]
from taxi_pipeline.factory import build_taxi_dag
run = build_taxi_dag("postgres", "green").test(logical_date=datetime({year}, {month}, 1, 9, tzinfo=timezone.utc))
print("child run state:", run.state)
"""


def wait_for(what: str, predicate: Callable[[], object], timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_child_run(year: int, month: int, log_path) -> subprocess.Popen:
    code = CHILD.format(plugins=str(ROOT / "plugins"), root=str(ROOT), year=year, month=month)
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def backend(monitor: psycopg.Connection, query_prefix: str, **conditions: str) -> int | None:
    """pid of a backend running a statement containing ``query_prefix`` (comments may precede it)."""
    sql = "SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()"
    params: list[object] = ["%" + query_prefix + "%"]
    for column, value in conditions.items():
        sql += f" AND {column} = %s"
        params.append(value)
    row = monitor.execute(sql, params).fetchone()
    return row[0] if row else None


def kill_and_reap(child: subprocess.Popen, monitor: psycopg.Connection, pid: int) -> None:
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    wait_for("the killed run's backend to end", lambda: not monitor.execute(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone(), timeout=60)


@pytest.fixture
def months(release_root):
    return {m: fake_tlc.write_month(release_root, GREEN, 2019, m, 1_000, seed=21) for m in (7, 8)}


@pytest.fixture
def monitor(pg_server, taxi_db):
    """A second connection to the test's database, for locks and pg_stat_activity."""
    with psycopg.connect(taxi_db.info.dsn + " password=root", autocommit=True) as conn:
        yield conn


def test_sigkill_between_copy_and_merge(taxi_db, monitor, source, months, tmp_path, monkeypatch):
    db = taxi_db
    assert str(run_month("green", 2019, 7).state) == "success"
    before = table_fingerprint(db, "green")
    # SHARE lets the child's load_staging (its tables' catalog check, the COPY) through but holds its
    # merge at its first statement, LOCK TABLE ONLY ... SHARE ROW EXCLUSIVE: staging is then committed and
    # the main table not yet touched -- the moment to kill it.
    monitor.execute("BEGIN")
    monitor.execute("LOCK TABLE green_tripdata IN SHARE MODE")
    child = start_child_run(2019, 8, tmp_path / "child.log")
    try:
        # Polled from another connection: pg_stat_activity is a snapshot within a transaction.
        pid = wait_for("the merge to wait for its lock", lambda: backend(
            db, "LOCK TABLE ONLY public.green_tripdata", wait_event_type="Lock"))
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        monitor.execute("ROLLBACK")
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    wait_for("the killed run's backend to end", lambda: not monitor.execute(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone())
    assert table_fingerprint(db, "green") == before  # none of 2019-08
    left_behind = staging_tables(db)
    assert len(left_behind) == 1 and left_behind[0].startswith("green_2019_08_")

    # The next run sweeps the dead run's staging (load_staging, before its own) and loads the month completely.
    monkeypatch.setenv("NY_TAXI_STAGING_TTL_MINUTES", "0")
    time.sleep(1.1)  # the sweep drops staging strictly older than the TTL (seconds resolution)
    assert str(run_month("green", 2019, 8).state) == "success"
    assert rows_per_file(db, "green")["green_tripdata_2019-08.csv"] == months[8].data_lines
    assert staging_tables(db) == []


def test_sigkill_during_merge(taxi_db, monitor, source, months, tmp_path, monkeypatch):
    db = taxi_db
    assert str(run_month("green", 2019, 7).state) == "success"
    before = table_fingerprint(db, "green")
    # Slow the merge's inserts down (5 ms a row) so it is surely mid-INSERT when the kill lands.
    db.execute("""
        CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(0.005); RETURN NEW; END $$;
        CREATE TRIGGER slow_insert BEFORE INSERT ON green_tripdata FOR EACH ROW EXECUTE FUNCTION slow_insert();
    """)
    child = start_child_run(2019, 8, tmp_path / "child.log")
    try:
        pid = wait_for("the merge's INSERT to run", lambda: backend(monitor, "INSERT INTO public.green_tripdata", state="active"))
        time.sleep(1.0)  # ~200 of 1,000 rows inserted, uncommitted
        assert monitor.execute("SELECT count(*) FROM green_tripdata").fetchone()[0] == before[0]
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    wait_for("the killed run's backend to end", lambda: not monitor.execute(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone())
    assert table_fingerprint(db, "green") == before  # the half-done INSERT was rolled back
    db.execute("DROP TRIGGER slow_insert ON green_tripdata")

    monkeypatch.setenv("NY_TAXI_STAGING_TTL_MINUTES", "0")
    time.sleep(1.1)
    assert str(run_month("green", 2019, 8).state) == "success"
    assert rows_per_file(db, "green") == {
        "green_tripdata_2019-07.csv": months[7].data_lines,
        "green_tripdata_2019-08.csv": months[8].data_lines,
    }
    assert staging_tables(db) == []


def test_postgres_restart_while_a_month_streams_in(pg_server, taxi_db, source, months, monkeypatch):
    monkeypatch.setenv("NY_TAXI_RETRIES", "2")
    monkeypatch.setenv("NY_TAXI_RETRY_DELAY_SECONDS", "1")
    dsn = taxi_db.info.dsn + " password=root"
    # The stream stalls half-way, so the COPY is in progress when Postgres goes down.
    source.add_faults(months[8].url_path, Fault.stall(4, after_bytes=months[8].gz_bytes // 2), method="GET")
    restarted = threading.Event()

    def restart_during_copy() -> None:
        with psycopg.connect(dsn, autocommit=True) as watcher:
            wait_for("the COPY to start", lambda: backend(watcher, "COPY taxi_staging."), timeout=60)
        pg_server.run("stop")
        pg_server.run("start")
        restarted.set()

    restarter = threading.Thread(target=restart_during_copy, daemon=True)
    restarter.start()
    run = run_month("green", 2019, 8)
    restarter.join(timeout=60)
    assert restarted.is_set()
    assert str(run.state) == "success", task_states(run)
    tries = {ti.task_id: ti.try_number for ti in run.get_task_instances()}
    assert tries["load_staging"] == 2  # the first attempt died with the server
    with psycopg.connect(dsn, autocommit=True) as db:
        assert rows_per_file(db, "green") == {"green_tripdata_2019-08.csv": months[8].data_lines}
        assert staging_tables(db) == []
