"""Months loading at the same time, and the same month twice at once: real processes against the
real Postgres. Each run is its own process with its own copy of the (already migrated) Airflow
metadata DB, so only the taxi database is shared -- as with parallel workers.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taxi_pipeline.specs import SPECS

from tests.conftest import ROOT
from tests.support import fake_tlc
from tests.test_postgres_pipeline import rows_per_file, run_month, staging_tables, table_fingerprint

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

CHILD = """
import sys
from datetime import datetime, timezone
sys.path[:0] = [{plugins!r}, {root!r}]
from taxi_pipeline.factory import build_taxi_dag
hour = 9 if {taxi!r} == "green" else 10
run = build_taxi_dag("postgres", {taxi!r}).test(logical_date=datetime({year}, {month}, 1, hour, tzinfo=timezone.utc))
print("CHILD-STATE", run.state)
sys.exit(0 if "success" in str(run.state) else 1)
"""


def start_run(taxi: str, year: int, month: int, workdir: Path) -> subprocess.Popen:
    """``dag.test()`` in a child process with a private copy of the metadata DB."""
    home = workdir / f"{taxi}-{year}-{month}-{len(list(workdir.iterdir()))}"
    home.mkdir()
    metadata = Path(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    with sqlite3.connect(metadata) as source, sqlite3.connect(home / "airflow.db") as copy:
        source.backup(copy)  # a consistent copy, WAL included
    env = dict(os.environ, AIRFLOW_HOME=str(home),
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}")
    code = CHILD.format(plugins=str(ROOT / "plugins"), root=str(ROOT), taxi=taxi, year=year, month=month)
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=(home / "run.log").open("wb"),
                            stderr=subprocess.STDOUT)


def wait_all(children: list[subprocess.Popen], timeout: float = 240) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for child in children:
        try:
            codes.append(child.wait(timeout=max(deadline - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            child.kill()
            raise
    return codes


@pytest.fixture
def files(release_root):
    made = {}
    for taxi in ("green", "yellow"):
        for month in (10, 11):
            made[(taxi, month)] = fake_tlc.write_month(release_root, SPECS[taxi], 2020, month, 1_500, seed=31)
    return made


def test_four_months_at_once_and_the_same_month_twice(taxi_db, source, files, tmp_path):
    db = taxi_db
    # Create the tables first, as the first scheduled run would; the runs below then race only on
    # their loads and merges.
    assert str(run_month("green", 2020, 10).state) == "success"
    runs = [("green", 2020, 11), ("yellow", 2020, 10), ("yellow", 2020, 11), ("green", 2020, 11), ("yellow", 2020, 11)]
    children = [start_run(taxi, year, month, tmp_path) for taxi, year, month in runs]
    codes = wait_all(children)
    logs = {p.name: p.read_text()[-3000:] for p in tmp_path.glob("*/run.log")}
    assert codes == [0] * len(runs), logs  # the same month twice: both succeed, the second inserts nothing
    for taxi in ("green", "yellow"):
        assert rows_per_file(db, taxi) == {
            f"{taxi}_tripdata_2020-10.csv": files[(taxi, 10)].data_lines,
            f"{taxi}_tripdata_2020-11.csv": files[(taxi, 11)].data_lines,
        }
    assert staging_tables(db) == []


def test_rerunning_a_month_three_times_changes_nothing(taxi_db, source, files):
    db = taxi_db
    assert str(run_month("yellow", 2020, 10).state) == "success"
    before = table_fingerprint(db, "yellow")
    for _ in range(3):
        assert str(run_month("yellow", 2020, 10).state) == "success"
    assert table_fingerprint(db, "yellow") == before
    assert before[0] == files[("yellow", 10)].data_lines
