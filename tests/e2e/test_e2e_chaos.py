"""A backfill of twelve months under chaos, on a real Airflow: a bad network, a Postgres restart and
a SIGKILLed scheduler, and still every row exactly once.

``airflow backfill create --max-active-runs 2`` over green 2019-01..2019-12 (paused, then
unpaused, as in test_e2e_backfill). The source is a :class:`~tests.support.fault_proxy.FaultProxy`
in front of the fixture server, on a slow link (200 kB/s, so a month's download takes about two
seconds): 20% of the file requests are reset mid-body, 10% answered 503 and 10% truncated with
a Content-Length that agrees (only the gzip stream can tell). Once three months are in and a
load_staging is streaming, the Postgres that holds the metadata and the taxi database is
restarted; once six are in and a load is streaming, the scheduler's process group (its
LocalExecutor workers and task processes with it) is SIGKILLed and started again. The tasks
caught by each are recorded, and must end successful on a later try. Tasks retry (NY_TAXI_RETRIES=8, 1 s exponential
backoff); the scheduler's heartbeat and orphan checks are shortened so the killed tasks are
found in seconds rather than minutes.

At the end every run has succeeded, each file's rows equal those of a clean load of the same
file (count and an md5 over its sorted ids), and the staging schema is empty. The faults played,
the retries and the wall time are printed, and written as markdown to ``$CHAOS_RESULTS`` when it
is set (``make chaos`` writes benchmarks/chaos/RESULTS.md).
"""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from taxi_pipeline.months import Month
from taxi_pipeline.specs import GREEN
from tests.support import fake_tlc
from tests.support.e2e_airflow import E2EAirflow, running_airflow
from tests.support.fault_proxy import FaultProxy
from tests.support.http_server import FixtureServer
from tests.support.load_paths import Ours, SessionServer, SourceMonth
from tests.test_postgres_pipeline import staging_tables

pytestmark = pytest.mark.e2e

DAG_ID = "postgres_taxi_green"
MONTHS = [(2019, m) for m in range(1, 13)]
ROWS = 12_000
RATES = {"reset": 0.2, "unavailable": 0.1, "truncate": 0.1}
BYTES_PER_SECOND = 200_000
CHAOS_ENV = {
    "NY_TAXI_RETRIES": "8",
    "NY_TAXI_RETRY_DELAY_SECONDS": "1",
    # A SIGKILLed task leaves its instance "running": found after this many seconds without a heartbeat.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    # A dead scheduler's queued tasks are adopted once its job is seen dead.
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
}


@pytest.fixture(scope="module")
def release(e2e_dir: Path) -> dict[tuple[int, int], fake_tlc.MonthFile]:
    return {(y, m): fake_tlc.write_month(e2e_dir / "release", GREEN, y, m, ROWS, seed=40 + m) for y, m in MONTHS}


@pytest.fixture(scope="module")
def proxy(e2e_dir: Path, release):
    with FixtureServer(e2e_dir / "release") as server, FaultProxy(server.base_url, **RATES,
                                                                          bytes_per_second=BYTES_PER_SECOND) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def airflow(pg_server, e2e_dir: Path, proxy) -> E2EAirflow:
    with running_airflow(name="chaos", run_dir=e2e_dir / "airflow", pg_server=pg_server,
                         source_url=proxy.base_url, window=("2019-01", "2019-12"), dag_env=CHAOS_ENV) as airflow:
        yield airflow


def fingerprints(uri: str) -> dict[str, tuple[int, str]]:
    """Per file: (rows, md5 of its sorted unique_row_ids)."""
    import psycopg

    with psycopg.connect(uri) as db:
        return {f: (n, h) for f, n, h in db.execute(
            "SELECT filename, count(*), md5(string_agg(unique_row_id, ',' ORDER BY unique_row_id)) "
            "FROM public.green_tripdata GROUP BY 1").fetchall()}


def clean_fingerprints(pg_server, release, monkeypatch) -> dict[str, tuple[int, str]]:
    """The same files loaded by the DAG's steps in this process, with no fault anywhere."""
    from taxi_pipeline.settings import POSTGRES_CONN_ID

    # Ours points the DAG's connection at its database (as here); monkeypatch puts it back after.
    monkeypatch.setenv(f"AIRFLOW_CONN_{POSTGRES_CONN_ID.upper()}", pg_server.uri("chaos_clean"))
    path = Ours(SessionServer(pg_server), "chaos_clean")
    path.reset()
    root = next(iter(release.values())).path.parents[1]
    try:
        for y, m in MONTHS:
            path.load(SourceMonth(GREEN, Month(y, m), release[(y, m)].path, root))
        return fingerprints(pg_server.uri("chaos_clean"))
    finally:
        pg_server.run("dropdb", "chaos_clean")


def succeeded(airflow: E2EAirflow) -> int:
    return sum(r["state"] == "success" for r in airflow.runs(DAG_ID))


def loads_streaming(airflow: E2EAirflow) -> list[tuple[str, int]]:
    """(run_id, try_number) of every load_staging running now."""
    data = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/~/taskInstances?state=running&limit=100")
    return [(ti["dag_run_id"], ti["try_number"]) for ti in data["task_instances"] if ti["task_id"] == "load_staging"]


def wait_streaming(airflow: E2EAirflow, months_in: int, timeout: float) -> list[tuple[str, int]]:
    """Once ``months_in`` runs have succeeded, the next moment a load_staging is running."""
    return airflow.wait_for(f"{months_in} successful runs of {DAG_ID} and a load_staging running",
                            lambda: succeeded(airflow) >= months_in and loads_streaming(airflow), timeout, every=0.2)


def restart_postgres(pg_server) -> float:
    started = time.monotonic()
    pg_server.run("stop")
    pg_server.run("start")
    return time.monotonic() - started


def kill_scheduler(airflow: E2EAirflow) -> int:
    """SIGKILL the scheduler's process group (LocalExecutor workers and task processes with it)."""
    pid = airflow.local.pids()["scheduler"]
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while airflow.local.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not airflow.local.alive(pid), f"scheduler {pid} survived SIGKILL"
    return pid


def retries(airflow: E2EAirflow, runs: list[dict]) -> dict[str, int]:
    """Per task: how many attempts beyond the first, summed over the runs."""
    out: dict[str, int] = {}
    for run in runs:
        for task, ti in airflow.task_instances(DAG_ID, run["dag_run_id"]).items():
            out[task] = out.get(task, 0) + ti["try_number"] - 1
    return out


def staging_left(uri: str) -> list[str]:
    import psycopg

    with psycopg.connect(uri) as db:
        return staging_tables(db)


def test_twelve_months_backfilled_through_faults_a_postgres_restart_and_a_killed_scheduler(
        airflow, proxy, pg_server, release, monkeypatch):
    expected = clean_fingerprints(pg_server, release, monkeypatch)
    assert sorted(expected) == sorted(GREEN.filename(y, m) for y, m in MONTHS)
    events = []
    started = time.monotonic()
    out = airflow.cli("backfill", "create", "--dag-id", DAG_ID, "--from-date", "2019-01-01",
                      "--to-date", "2019-12-31", "--max-active-runs", "2").stdout
    print(out)
    airflow.set_paused(DAG_ID, False)

    caught = []  # (event, run_id, try_number) of the loads each event hit
    hit = wait_streaming(airflow, 3, timeout=300)
    took = restart_postgres(pg_server)
    caught += [("postgres restart", run_id, try_number) for run_id, try_number in hit]
    events.append(f"Postgres (metadata and taxi databases) restarted after {time.monotonic() - started:.0f} s, "
                  f"down for {took:.1f} s, while {len(hit)} load_staging streamed ({', '.join(r for r, _ in hit)})")

    hit = wait_streaming(airflow, 6, timeout=300)
    pid = kill_scheduler(airflow)
    new_pid = airflow.local.start_component("scheduler", airflow.local.airflow_env())
    caught += [("scheduler SIGKILL", run_id, try_number) for run_id, try_number in hit]
    events.append(f"scheduler (pid {pid}) and its task processes SIGKILLed after {time.monotonic() - started:.0f} s, "
                  f"while {len(hit)} load_staging streamed ({', '.join(r for r, _ in hit)}); started again as pid {new_pid}")

    runs = airflow.wait_runs_done(DAG_ID, len(MONTHS), timeout=600)
    wall = time.monotonic() - started
    tries = retries(airflow, runs)
    same, left = fingerprints(airflow.taxi_db_uri) == expected, staging_left(airflow.taxi_db_uri)
    summary = [
        f"# Backfill under chaos ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        "Written by `make chaos` (tests/e2e/test_e2e_chaos.py): twelve green months of "
        f"{ROWS:,} generated rows, `airflow backfill create --max-active-runs 2`, LocalExecutor, "
        "NY_TAXI_RETRIES=8 with a 1 s exponential backoff.",
        "",
        "| fault played by the proxy | requests |",
        "| --- | ---: |",
        *(f"| {name} | {proxy.counts[name]} |" for name in ("reset", "unavailable", "truncate", "passed")),
        f"| all | {sum(proxy.counts.values())} |",
        "",
        *(f"* {event}" for event in events),
        *(f"* {name} restarted by its supervisor (scripts/supervise.py, compose's `restart: always`): {line}"
          for name in airflow.local.components for line in airflow.local.restarts(name)),
        f"* Task retries: {sum(tries.values())} in all ("
        + ", ".join(f"{task} {n}" for task, n in sorted(tries.items()) if n) + ")",
        f"* Wall time from `backfill create` to the twelfth run done: {wall:.0f} s",
        f"* Runs: {sum(r['state'] == 'success' for r in runs)} of {len(runs)} succeeded; every file's rows equal "
        f"a clean load's of the same files (count and md5 of the sorted ids): {'yes' if same else '**no**'}; "
        f"staging tables left: {len(left)}",
        "",
    ]
    print("\n".join(summary))
    if os.environ.get("CHAOS_RESULTS"):
        target = Path(os.environ["CHAOS_RESULTS"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(summary))

    assert [(r["run_type"], r["state"]) for r in runs] == [("backfill", "success")] * len(MONTHS)
    assert fingerprints(airflow.taxi_db_uri) == expected
    assert left == []
    # The chaos really happened: faults of every kind were played, and tasks were retried for them.
    assert all(proxy.counts[name] > 0 for name in RATES), proxy.counts
    assert sum(tries.values()) > 0
    for event, run_id, try_number in caught:  # each event hit a load, which finished on a later try
        final = airflow.task_instances(DAG_ID, run_id)["load_staging"]
        assert (final["state"], final["try_number"] > try_number) == ("success", True), (event, run_id, final)
