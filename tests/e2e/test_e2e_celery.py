"""Scale-out on one machine: the CeleryExecutor with a real Redis broker and two Celery workers.

The compose stack's answer to "one machine is not enough" is more Celery workers (or the Helm
chart with the same image). Here the local Airflow runs exactly that shape
(``make airflow-up EXECUTOR=celery``): Debian's ``redis-server`` on 127.0.0.1 as the broker,
results in the metadata database, ``airflow celery worker`` twice. Catchup of four green months,
all at once (NY_TAXI_MAX_ACTIVE_RUNS=4): every file's rows are there exactly once, and each
worker's log shows task workloads it executed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from taxi_pipeline.specs import GREEN
from tests.support import fake_tlc
from tests.support.e2e_airflow import E2EAirflow, running_airflow
from tests.support.http_server import FixtureServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("redis-server") is None,
                       reason="no redis-server on PATH: apt-get install redis-server"),
]

DAG_ID = "postgres_taxi_green"
MONTHS = {(2019, 1): 3_000, (2019, 2): 2_600, (2019, 3): 2_200, (2019, 4): 1_800}
FIELD = {name: re.compile(rf"\b{name}='([^']+)'") for name in ("dag_id", "run_id", "task_id")}


@pytest.fixture(scope="module")
def release(e2e_dir: Path) -> dict[tuple[int, int], fake_tlc.MonthFile]:
    return {(y, m): fake_tlc.write_month(e2e_dir / "release", GREEN, y, m, rows, seed=70 + m)
            for (y, m), rows in MONTHS.items()}


@pytest.fixture(scope="module")
def airflow(pg_server, e2e_dir: Path, release) -> E2EAirflow:
    with FixtureServer(e2e_dir / "release") as server, running_airflow(
        name="celery", run_dir=e2e_dir / "airflow", pg_server=pg_server, source_url=server.base_url,
        window=("2019-01", "2019-04"), dag_env={"NY_TAXI_MAX_ACTIVE_RUNS": "4"}, executor="celery",
    ) as airflow:
        yield airflow


def executed_by_worker(airflow: E2EAirflow) -> dict[str, set[tuple[str, str, str]]]:
    """Per worker: the (dag_id, run_id, task_id) workloads its log says it executed."""
    out = {}
    for name in ("worker-1", "worker-2"):
        lines = airflow.local.log_path(name).read_text(errors="replace").splitlines()
        out[name] = {tuple(FIELD[f].search(line)[1] for f in ("dag_id", "run_id", "task_id"))
                     for line in lines if "Executing workload in Celery" in line}
    return out


def test_celery_workers_catch_up_four_months_each_file_once_on_both_workers(airflow, release):
    env = airflow.local.airflow_env()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://127.0.0.1:")
    airflow.set_paused(DAG_ID, False)
    runs = airflow.wait_runs_done(DAG_ID, len(MONTHS), timeout=420)
    assert [(r["run_type"], r["state"]) for r in runs] == [("scheduled", "success")] * len(MONTHS)
    assert airflow.rows_per_file("green") == {GREEN.filename(y, m): f.data_lines for (y, m), f in release.items()}

    executed = executed_by_worker(airflow)
    print({name: len(workloads) for name, workloads in executed.items()})
    assert all(executed.values()), f"a worker executed nothing: {executed}"
    ours = {(DAG_ID, r["dag_run_id"], t) for r in runs for t in airflow.task_instances(DAG_ID, r["dag_run_id"])}
    # Every task instance ran on exactly one of the two workers.
    assert executed["worker-1"] | executed["worker-2"] >= ours
    assert not (executed["worker-1"] & executed["worker-2"] & ours)
