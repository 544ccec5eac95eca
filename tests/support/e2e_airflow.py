"""A real Airflow (scripts/airflow_local.py) for end-to-end tests, plus the REST calls they make.

:func:`running_airflow` starts api-server, scheduler and dag-processor against the test session's
Postgres (its own metadata and ny_taxi databases), with the DAG window and source given by the
test, and stops every process on exit. :class:`E2EAirflow` wraps the REST API (``/api/v2``, token
from ``/auth/token``) and the CLI; every wait is bounded and says what it waited for.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

from scripts.airflow_local import LocalAirflow, LocalAirflowSettings
from tests.support.net import free_port

T = TypeVar("T")
TERMINAL = {"success", "failed"}

# Every running instance, so a failing test can print their logs (see tests/e2e/conftest.py).
ACTIVE: list[E2EAirflow] = []
# Set on each test item by tests/e2e/conftest.py. It lives here, in a module imported once: a
# conftest imported from a test module again would be a second module with a second key.
CALL_FAILED = pytest.StashKey[bool]()


def call_failed(request: pytest.FixtureRequest) -> bool:
    """In a fixture's teardown: did the test's call fail?"""
    return request.node.stash.get(CALL_FAILED, False)


class E2EAirflow:
    def __init__(self, local: LocalAirflow, taxi_db_uri: str) -> None:
        self.local = local
        self.taxi_db_uri = taxi_db_uri
        self._token: str | None = None

    # --- REST ----------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, *, expect: int | tuple[int, ...] | None = 200) -> Any:
        """Call ``/api/v2{path}``; with ``expect`` set, any other status fails with the body."""
        if self._token is None:
            self._token = self.local.token()
        status, data = self.local.request(method, f"/api/v2{path}", body, token=self._token, timeout=30)
        if expect is not None and status not in ((expect,) if isinstance(expect, int) else expect):
            raise AssertionError(f"{method} /api/v2{path}: HTTP {status}: {data}")
        return data if expect is not None else (status, data)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": paused})

    def dag(self, dag_id: str) -> dict[str, Any]:
        return self.api("GET", f"/dags/{dag_id}/details")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns?limit=100&order_by=run_after")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        data = self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        return {ti["task_id"]: ti for ti in data["task_instances"]}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's log as the UI shows it (structured events joined into text)."""
        data = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
            "?full_content=true",
        )
        return json.dumps(data["content"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api("GET", path + "?deserialize=true")["value"]

    def trigger(self, dag_id: str, conf: Mapping[str, Any]) -> tuple[int, Any]:
        """What the UI's Trigger form sends: no logical date, the params as conf."""
        return self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf)}, expect=None)

    def backfills(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/backfills?dag_id={dag_id}&order_by=id")["backfills"]

    # --- the taxi database ---------------------------------------------------------------------

    def rows_per_file(self, taxi: str) -> dict[str, int]:
        """Rows per filename in ``public.<taxi>_tripdata`` ({} before the table exists)."""
        import psycopg

        with psycopg.connect(self.taxi_db_uri) as db:
            if not db.execute("SELECT to_regclass(%s)", (f"public.{taxi}_tripdata",)).fetchone()[0]:
                return {}
            return dict(db.execute(f"SELECT filename, count(*) FROM public.{taxi}_tripdata GROUP BY 1").fetchall())

    # --- CLI -----------------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``airflow <args>`` with the instance's environment (as ``source env.sh`` would set it)."""
        airflow = str(Path(self.local.components["scheduler"][0]))
        done = subprocess.run(
            [airflow, *args], env=self.local.airflow_env(), capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    # --- waiting -------------------------------------------------------------------------------

    def wait_for(self, what: str, check: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
        """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            for name, pid in self.local.pids().items():
                if not self.local.alive(pid):
                    raise AssertionError(f"{name} (pid {pid}) died while waiting for {what}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(every)

    def wait_runs_done(self, dag_id: str, count: int, timeout: float,
                       select: Callable[[dict[str, Any]], bool] = lambda run: True) -> list[dict[str, Any]]:
        """Wait until ``count`` selected runs exist and all are finished; returns them."""

        def done() -> list[dict[str, Any]] | None:
            runs = [r for r in self.runs(dag_id) if select(r)]
            return runs if len(runs) >= count and all(r["state"] in TERMINAL for r in runs) else None

        return self.wait_for(f"{count} finished runs of {dag_id}", done, timeout)

    # --- diagnostics ---------------------------------------------------------------------------

    def diagnostics(self, lines: int = 40) -> str:
        """Component log tails, then the tails of task logs that report an error."""
        out = [self.local.log_tails(lines)]
        for path in sorted((self.local.home / "logs").glob("dag_id=*/run_id=*/task_id=*/attempt=*.log")):
            text = path.read_text(errors="replace")
            if '"level": "error"' in text or '"level":"error"' in text:
                tail = "\n".join(text.splitlines()[-15:])
                out.append(f"---- task log {path} (tail) ----\n{tail}")
        return "\n".join(out)


def clean_environment() -> dict[str, str]:
    """The test process's environment without its Airflow/DAG settings (the conftest's SQLite home)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NY_TAXI_"))}


@contextmanager
def running_airflow(
    *,
    name: str,
    run_dir: Path,
    pg_server: Any,
    source_url: str,
    window: tuple[str, str],
    dag_env: Mapping[str, str] | None = None,
    timeout: float = 240,
    executor: str = "local",
) -> Iterator[E2EAirflow]:
    """An Airflow with its own metadata DB ``e2e_meta_<name>`` and taxi DB ``e2e_taxi_<name>`` on the
    session's Postgres (``pg_server``), reading months of ``window`` from ``source_url``. DAGs start
    paused (each test unpauses what it drives) and failures are not retried away; ``dag_env`` adds
    or overrides settings; ``executor="celery"`` adds a Redis broker and two Celery workers."""
    settings = LocalAirflowSettings(
        meta_template=_meta_template(pg_server, run_dir.parent),
        run_dir=run_dir,
        port=free_port(),
        meta_db=f"e2e_meta_{name}",
        taxi_db=f"e2e_taxi_{name}",
        pg_dir=Path(pg_server.env["PG_DIR"]),
        pg_port=pg_server.port,
        timeout=timeout,
        executor=executor,
        redis_port=free_port(),
        base_env=clean_environment(),
        overrides={
            "NY_TAXI_START_MONTH": window[0],
            "NY_TAXI_END_MONTH": window[1],
            "NY_TAXI_RETRIES": "0",  # a failure must show, not be retried away
            "NY_TAXI_PUBLISH_WAIT_DAYS": "0",  # nor be waited for
            "AIRFLOW_VAR_NY_TAXI_SOURCE": source_url,
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "SUPERVISE_PARENT_PID": str(os.getpid()),  # a killed test session takes its Airflow with it
            **(dag_env or {}),
        },
    )
    local = LocalAirflow(settings)
    started = time.monotonic()
    try:
        local.up(say=lambda line: print(f"[airflow {name}] {line}"))
    except BaseException:
        _drop_databases(local)
        raise
    print(f"[airflow {name}] healthy with DAGs parsed after {time.monotonic() - started:.1f} s")
    airflow = E2EAirflow(local, local.airflow_env()["AIRFLOW_CONN_NY_TAXI_POSTGRES"])
    ACTIVE.append(airflow)
    try:
        yield airflow
    finally:
        ACTIVE.remove(airflow)
        print(f"[airflow {name}] stopped: {', '.join(local.stop())}")
        _drop_databases(local)


META_TEMPLATE = "e2e_meta_template"
_MIGRATED: set[tuple[str, int]] = set()  # the servers this process has migrated META_TEMPLATE on


def _meta_template(pg_server: Any, work: Path) -> str:
    """A metadata DB migrated once per test process and server, which each Airflow's own copies
    (CREATE DATABASE ... TEMPLATE): ``airflow db migrate`` costs 5-10 s of every start, and the
    end-to-end modules start one Airflow each, one after the other. A fresh migration holds no
    secret (no connection or variable), so each copy takes its own keys."""
    key = (pg_server.env["PG_DIR"], pg_server.port)
    if key not in _MIGRATED:
        local = LocalAirflow(LocalAirflowSettings(
            run_dir=work / "meta-template", meta_db=META_TEMPLATE, pg_dir=Path(pg_server.env["PG_DIR"]),
            pg_port=pg_server.port, base_env=clean_environment()))
        local.pg("start")
        local.pg("dropdb", META_TEMPLATE)
        local.pg("createdb", META_TEMPLATE)
        local.home.mkdir(parents=True, exist_ok=True)
        print(f"[airflow] {META_TEMPLATE} migrated in {local.migrate(local.airflow_env()):.1f} s (each Airflow copies it)")
        _MIGRATED.add(key)
    return META_TEMPLATE


def _drop_databases(local: LocalAirflow) -> None:
    for database in (local.s.meta_db, local.s.taxi_db):
        try:
            local.pg("dropdb", database)
        except Exception as exc:  # cleanup must not hide the test's own failure
            print(f"could not drop {database}: {exc}")
