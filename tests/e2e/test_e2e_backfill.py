"""``airflow backfill create`` on ``postgres_taxi_yellow``, then the same range reprocessed, on a real Airflow.

How catchup is kept out of the way: this module's Airflow has its own window, 2019-01..2019-02
(``NY_TAXI_START_MONTH`` / ``NY_TAXI_END_MONTH``), exactly the backfill's range, and creates DAGs
*paused*. The backfill is created while the DAG is paused (its runs wait: the scheduler starts no
run of a paused DAG), then the DAG is unpaused, as the UI's backfill dialog does. The scheduler's
catchup then finds a run at every logical date of the window ("run already exists; skipping") and
creates none of its own: every run here is a backfill run, which the test asserts.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from taxi_pipeline.specs import YELLOW
from tests.support import fake_tlc
from tests.support.e2e_airflow import E2EAirflow, running_airflow
from tests.support.http_server import FixtureServer

pytestmark = pytest.mark.e2e

DAG_ID = "postgres_taxi_yellow"
MONTHS = {(2019, 1): 2_500, (2019, 2): 2_000}
RANGE = ("--from-date", "2019-01-01", "--to-date", "2019-02-28")


@pytest.fixture(scope="module")
def release(e2e_dir: Path) -> dict[tuple[int, int], fake_tlc.MonthFile]:
    return {
        (year, month): fake_tlc.write_month(e2e_dir / "release", YELLOW, year, month, rows, seed=10 + month)
        for (year, month), rows in MONTHS.items()
    }


@pytest.fixture(scope="module")
def airflow(pg_server, e2e_dir: Path, release) -> E2EAirflow:
    with FixtureServer(e2e_dir / "release") as server, running_airflow(
        name="yellow", run_dir=e2e_dir / "airflow", pg_server=pg_server, source_url=server.base_url,
        window=("2019-01", "2019-02"),
    ) as airflow:
        yield airflow


def fingerprint(airflow: E2EAirflow) -> tuple[int, str]:
    import psycopg

    with psycopg.connect(airflow.taxi_db_uri) as db:
        return db.execute(
            "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM yellow_tripdata t"
        ).fetchone()


def wait_backfill_completed(airflow: E2EAirflow, backfill_id: int, timeout: float) -> dict:
    def completed():
        [backfill] = [b for b in airflow.backfills(DAG_ID) if b["id"] == backfill_id]
        return backfill if backfill["completed_at"] else None

    return airflow.wait_for(f"backfill {backfill_id} of {DAG_ID} to complete", completed, timeout)


def run_states(airflow: E2EAirflow, run_id: str) -> dict[str, tuple[str, int]]:
    return {t: (ti["state"], ti["try_number"]) for t, ti in airflow.task_instances(DAG_ID, run_id).items()}


def merge_result(airflow, run: dict) -> dict:
    """hash_merge's XCom without its audit row id (a sequence number)."""
    merged = airflow.xcom(DAG_ID, run["dag_run_id"], "hash_merge")
    assert isinstance(merged.pop("load_id"), int)
    return merged


def test_backfill_two_months_then_reprocess_completed_changes_nothing(airflow, release):
    expected = {YELLOW.filename(y, m): f.data_lines for (y, m), f in release.items()}
    lines_of_run = {f"{y}-{m:02d}-01T10:00:00Z": f.data_lines for (y, m), f in release.items()}
    assert airflow.dag(DAG_ID)["is_paused"] is True
    assert airflow.runs(DAG_ID) == []

    # 1. The backfill: two months, created from the CLI while the DAG is paused, then unpaused.
    started = time.monotonic()
    out = airflow.cli("backfill", "create", "--dag-id", DAG_ID, *RANGE).stdout
    print(out)
    [first] = airflow.backfills(DAG_ID)
    airflow.set_paused(DAG_ID, False)
    runs = airflow.wait_runs_done(DAG_ID, len(MONTHS), timeout=240)
    print(f"backfill of 2 months: {time.monotonic() - started:.1f} s from `backfill create` to both runs done")
    # The scheduler marks backfills complete every 30 s; only then may another one start.
    wait_backfill_completed(airflow, first["id"], timeout=90)

    assert [(r["logical_date"], r["run_type"], r["state"]) for r in runs] == [
        ("2019-01-01T10:00:00Z", "backfill", "success"),
        ("2019-02-01T10:00:00Z", "backfill", "success"),
    ]
    assert airflow.rows_per_file("yellow") == expected
    # Catchup has nothing left to create: the backfill covered the whole window.
    assert airflow.wait_for(
        "the scheduler to see the window covered",
        lambda: airflow.dag(DAG_ID)["next_dagrun_logical_date"] is None or None,
        timeout=30,
    )
    assert [r["run_type"] for r in airflow.runs(DAG_ID)] == ["backfill", "backfill"]
    for run in runs:
        assert set(run_states(airflow, run["dag_run_id"]).values()) == {("success", 1)}
        lines = lines_of_run[run["logical_date"]]
        assert merge_result(airflow, run) == {"staged_rows": lines, "inserted_rows": lines, "skipped_rows": 0, "placement": "attached"}
    before = fingerprint(airflow)

    # 2. The same range again, reprocessing completed runs: they are cleared and run again.
    started = time.monotonic()
    print(airflow.cli("backfill", "create", "--dag-id", DAG_ID, *RANGE, "--reprocess-behavior", "completed").stdout)
    second = [b for b in airflow.backfills(DAG_ID) if b["id"] != first["id"]]
    assert [b["reprocess_behavior"] for b in second] == ["completed"]
    # The CLI has cleared both runs (queued again) before returning: wait for them to finish again.
    rerun = airflow.wait_runs_done(DAG_ID, len(MONTHS), timeout=240)
    print(f"reprocess of 2 months: {time.monotonic() - started:.1f} s from `backfill create` to both runs done")

    assert [(r["dag_run_id"], r["state"]) for r in rerun] == [(r["dag_run_id"], "success") for r in runs]
    for run in rerun:
        assert set(run_states(airflow, run["dag_run_id"]).values()) == {("success", 2)}  # really ran again
        lines = lines_of_run[run["logical_date"]]
        assert merge_result(airflow, run) == {"staged_rows": lines, "inserted_rows": 0, "skipped_rows": lines, "placement": "unchanged"}
    assert airflow.rows_per_file("yellow") == expected
    assert fingerprint(airflow) == before


def test_make_backfill_restarts_on_the_range_backfills_and_reports(airflow, release, monkeypatch):
    """``make backfill`` (scripts/airflow_local.py ``backfill``) on the same instance: restart with the
    range as the window, ``airflow backfill create`` on the paused DAG, unpause, wait, report."""
    monkeypatch.setenv("AIRFLOW_LOCAL_RUN_TIMEOUT", "300")  # two small months; a hang fails, not stalls CI
    for backfill in airflow.backfills(DAG_ID):  # one backfill per DAG at a time
        wait_backfill_completed(airflow, backfill["id"], timeout=90)
    before, said = fingerprint(airflow), []
    code = airflow.local.backfill(["yellow"], "2019-01", "2019-02", reprocess="completed", say=said.append)
    print("\n".join(said))
    assert code == 0
    assert any(line.startswith("$ airflow backfill create --dag-id postgres_taxi_yellow --from-date 2019-01-01 "
                               "--to-date 2019-02-28 --reprocess-behavior completed --max-active-runs 2")
               for line in said), said
    for month in ("2019-01", "2019-02"):
        assert any(line.startswith(f"{DAG_ID} {month}: success in ") for line in said), said
    table = next(line for line in said if line.startswith("filename"))
    for (y, m), f in release.items():
        assert f"{YELLOW.filename(y, m):<30} {f.data_lines:>12,}" in table
    runs = airflow.runs(DAG_ID)
    assert [(r["run_type"], r["state"]) for r in runs] == [("backfill", "success")] * 2
    for run in runs:
        assert set(run_states(airflow, run["dag_run_id"]).values()) == {("success", 3)}  # ran a third time
    assert fingerprint(airflow) == before
