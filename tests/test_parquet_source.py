"""The TLC parquet source: every era's schema, fhv and fhvhv, ids equal to the CSV's, bad files, a
month that is published late. Real Postgres, files over local HTTP (tests/support/fake_parquet.py),
the DAG's own tasks through ``dag.test()``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from taxi_pipeline.months import Month
from taxi_pipeline.extract.parquet import SPOOL_DIR
from taxi_pipeline.specs import SPECS

from tests.support import fake_parquet, fake_tlc
from tests.support.http_server import Fault, FixtureServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture
def tlc(tmp_path: Path, monkeypatch):
    """A mirror in the TLC layout over local HTTP; the run's source is that mirror."""
    root = tmp_path / "trip-data"
    root.mkdir()
    with FixtureServer(root) as server:
        monkeypatch.setenv("AIRFLOW_VAR_NY_TAXI_SOURCE", server.base_url)
        monkeypatch.setenv("NY_TAXI_SOURCE", "tlc")  # the DAGs' windows: tlc's (open-ended), cut at END
        monkeypatch.setenv("NY_TAXI_START_MONTH", "2019-01")
        monkeypatch.setenv("NY_TAXI_END_MONTH", "2025-12")
        monkeypatch.setenv("NY_TAXI_PUBLISH_POKE_SECONDS", "1")
        yield root, server


def run(taxi: str, month: Month, **conf):
    from taxi_pipeline.factory import build_taxi_dag

    dag = build_taxi_dag("postgres", taxi)
    if conf:
        return dag.test(logical_date=None, run_conf={"year": month.year, "month": month.month, **conf})
    hour = int(SPECS[taxi].schedule.split()[1])
    return dag.test(logical_date=datetime(month.year, month.month, 1, hour, tzinfo=timezone.utc))


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def ids(db, taxi: str) -> list[tuple[str, str]]:
    return db.execute(f"SELECT unique_row_id, filename FROM {taxi}_tripdata ORDER BY 1, 2").fetchall()


def no_spool_left() -> bool:
    """None of this process's loads (dag.test runs tasks in-process) left a spooled file."""
    import os

    return not list(SPOOL_DIR.glob(f"*_{os.getpid()}_*.parquet"))


@pytest.mark.parametrize("taxi,month", [("green", Month(2020, 3)), ("yellow", Month(2019, 6)),
                                        ("yellow", Month(2023, 3)), ("yellow", Month(2025, 1))],
                         ids=["green", "yellow-2019-airport_fee", "yellow-2023-Airport_fee", "yellow-2025-cbd"])
def test_a_parquet_month_gets_the_csv_months_ids(taxi_db, tlc, tmp_path, pg_server, monkeypatch, taxi, month):
    """The same trips as csv.gz and as the era's parquet: same rows, same unique_row_id, exact counts."""
    root, _ = tlc
    csv = fake_tlc.write_month(tmp_path / "dtc", SPECS[taxi], month.year, month.month, 3_000, seed=17)
    fake_parquet.from_csv(csv.path, taxi, month, root)
    loaded = run(taxi, month)
    assert str(loaded.state) == "success", states(loaded)
    assert states(loaded)["hash_merge"] == "success", states(loaded)
    from_parquet = ids(taxi_db, taxi)
    assert len(from_parquet) == 3_000 and no_spool_left()
    extra = taxi_db.execute(f"SELECT count(airport_fee), count(cbd_congestion_fee) FROM {taxi}_tripdata").fetchone() \
        if taxi == "yellow" else None

    other = pg_server.create_database()
    try:
        import psycopg

        monkeypatch.setenv("AIRFLOW_CONN_NY_TAXI_POSTGRES", pg_server.uri(other))
        assert str(run(taxi, month, source=str(tmp_path / "dtc")).state) == "success"  # the param picks the csv.gz
        with psycopg.connect(pg_server.uri(other)) as csv_db:
            assert ids(csv_db, taxi) == from_parquet
    finally:
        pg_server.run("dropdb", other)
    if taxi == "yellow":  # airport_fee: every third row set; cbd_congestion_fee only exists from 2025-01
        assert extra == (1_000, 3_000 if month >= Month(2025, 1) else 0)


@pytest.mark.parametrize("taxi,month,rows", [("fhv", Month(2019, 1), 2_000), ("fhvhv", Month(2019, 2), 2_500),
                                             ("fhvhv", Month(2025, 2), 1_200)])
def test_fhv_and_fhvhv_months_load_once(taxi_db, tlc, taxi, month, rows):
    root, _ = tlc
    getattr(fake_parquet, taxi)(root, month, rows)
    assert str(run(taxi, month).state) == "success"
    assert taxi_db.execute(f"SELECT count(*) FROM {taxi}_tripdata").fetchone()[0] == rows
    assert str(run(taxi, month).state) == "success"  # re-run: nothing new
    assert taxi_db.execute(f"SELECT count(*), count(DISTINCT filename) FROM {taxi}_tripdata").fetchone() == (rows, 1)
    if taxi == "fhvhv":
        cbd = taxi_db.execute("SELECT count(cbd_congestion_fee) FROM fhvhv_tripdata").fetchone()[0]
        assert cbd == (rows if month >= Month(2025, 1) else 0)
    assert no_spool_left()


def test_a_month_published_late_is_waited_for_then_loaded_once(taxi_db, tlc, monkeypatch):
    root, server = tlc
    monkeypatch.setenv("NY_TAXI_PUBLISH_WAIT_DAYS", "1")  # conftest's 0 would fail at the first look
    month = Month(2019, 3)
    fake_parquet.fhv(root, month, 700)
    path = "/" + fake_parquet.tlc_path(root, "fhv", month).name
    server.add_faults(path, Fault.status(404), Fault.status(404))  # two looks find nothing
    dag_run = run("fhv", month)
    assert str(dag_run.state) == "success"
    looks = [(r.method, r.status) for r in server.requests if r.path == path]
    assert looks == [("HEAD", 404), ("HEAD", 404), ("HEAD", 200), ("GET", 200)]  # 3 looks, then the one download
    assert taxi_db.execute("SELECT count(*) FROM fhv_tripdata").fetchone()[0] == 700
    sensor = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "wait_for_file")
    assert sensor.try_number == 1  # rescheduled, not retried


def test_a_month_not_published_within_the_budget_fails_saying_so(taxi_db, tlc, monkeypatch, capfd):
    monkeypatch.setenv("NY_TAXI_PUBLISH_WAIT_DAYS", "0")
    dag_run = run("fhv", Month(2019, 4))
    assert str(dag_run.state) == "failed"
    assert states(dag_run)["wait_for_file"] == "failed"
    assert "fhv 2019-04: not published after 0 days" in capfd.readouterr().out
    assert taxi_db.execute("SELECT to_regclass('public.fhv_tripdata')").fetchone()[0] is None  # nothing made


def _truncated(root: Path, path: Path) -> str:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return "fhv_tripdata_2019-05.parquet: not a readable parquet file"


def _wrong_schema(root: Path, path: Path) -> str:
    import pyarrow.parquet as pq

    table = pq.read_table(path).drop_columns(["pickup_datetime"])
    pq.write_table(table, path)
    return "fhv_tripdata_2019-05.parquet: columns do not match the fhv spec: missing ['pickup_datetime']"


def _bad_values(root: Path, path: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    table = table.set_column(3, "PUlocationID", pa.array([12.5] * table.num_rows))
    pq.write_table(table, path)
    return "fhv_tripdata_2019-05.parquet, column PUlocationID: double values do not fit int32"  # Postgres integer: int4


@pytest.mark.parametrize("spoil", [_truncated, _wrong_schema, _bad_values, "html"],
                         ids=["truncated", "wrong-schema", "bad-values", "html"])
def test_a_bad_parquet_file_is_a_clear_error_and_leaves_nothing(taxi_db, tlc, capfd, spoil):
    root, server = tlc
    month = Month(2019, 5)
    fake_parquet.fhv(root, Month(2019, 6), 300)  # a good month loaded first: it must stay as it is
    assert str(run("fhv", Month(2019, 6)).state) == "success"
    path = fake_parquet.fhv(root, month, 400)
    if spoil == "html":
        server.add_faults("/" + path.name, Fault.html(), method="GET")  # the download (wait_for_file looks with HEAD)
        expected = "returned an HTML page (text/html; charset=utf-8), not a parquet file"
    else:
        expected = spoil(root, path)
    dag_run = run("fhv", month)
    assert str(dag_run.state) == "failed" and states(dag_run)["load_staging"] == "failed"
    assert expected in capfd.readouterr().out
    assert taxi_db.execute("SELECT count(*), count(DISTINCT filename) FROM fhv_tripdata").fetchone() == (300, 1)
    assert taxi_db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'taxi_staging'").fetchone()[0] == 0
    assert no_spool_left()


def test_the_sweep_removes_a_killed_loads_spool_file(tmp_path):
    import subprocess
    import sys
    from datetime import timedelta

    from taxi_pipeline.extract.parquet import sweep_spool

    SPOOL_DIR.mkdir(parents=True, exist_ok=True)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = SPOOL_DIR / f"fhv_2019-05_{int(gone.stdout)}_{int(datetime.now().timestamp())}.parquet"
    alive = SPOOL_DIR / f"fhv_2019-06_{__import__('os').getpid()}_{int(datetime.now().timestamp())}.parquet"
    for path in (dead, alive):
        path.write_bytes(b"PAR1")
    try:
        assert sweep_spool(timedelta(hours=6)) == [dead]
        assert alive.exists() and not dead.exists()
    finally:
        alive.unlink(missing_ok=True)


_CHILD = """
import sys
sys.path.insert(0, sys.argv[2])
from taxi_pipeline.months import Month
from taxi_pipeline.extract.parquet import open_month_parquet
from taxi_pipeline.specs import FHV
with open_month_parquet(sys.argv[1], FHV, Month(2019, 5), read_timeout=60):
    pass
"""


def test_a_load_killed_mid_download_leaves_its_spool_file_to_the_sweep(tmp_path):
    """SIGKILL while the parquet file downloads: no cleanup ran, so the spool file stays -- until the
    next load's sweep sees that its process is gone."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from datetime import timedelta

    from taxi_pipeline.extract.parquet import sweep_spool

    from tests.conftest import ROOT

    path = fake_parquet.fhv(tmp_path / "trip-data", Month(2019, 5), 20_000)
    with FixtureServer(tmp_path / "trip-data") as server:
        server.add_faults("/" + path.name, Fault.stall(60, after_bytes=path.stat().st_size // 2), method="GET")
        child = subprocess.Popen([sys.executable, "-c", _CHILD, server.url("/" + path.name), str(ROOT / "plugins")])
        try:
            deadline, spooled = time.monotonic() + 60, []
            while time.monotonic() < deadline and not spooled:
                spooled = [p for p in SPOOL_DIR.glob(f"fhv_2019-05_{child.pid}_*.parquet") if p.stat().st_size > 0]
                time.sleep(0.1)
            assert spooled, "the child never started spooling"
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        assert spooled[0].exists()  # killed: nothing cleaned up
        assert spooled[0] in sweep_spool(timedelta(hours=6))
        assert not spooled[0].exists()
