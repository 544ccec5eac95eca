"""A local Airflow 3.3 for this project: Postgres metadata DB, LocalExecutor, one process per component.

``make airflow-up`` / ``make airflow-down`` run this script (``up`` / ``down``; ``status`` too);
``make run-airflow`` runs ``run``: restart with the window, catch up the chosen DAGs, wait, report.
``up`` starts the project's Postgres (scripts/pg.sh) if needed, creates the metadata database,
runs ``airflow db migrate``, then starts api-server and dag-processor, and the scheduler (plus the
triggerer with ``--triggerer``) once the api-server answers and the DAGs are parsed, each a separate
process on 127.0.0.1 -- not ``airflow standalone``, whose log servers bind 0.0.0.0. DAGs are created
unpaused, except that the GCP DAGs are paused on their first start when no GCP project is
configured. It waits until ``/api/v2/monitor/health`` reports the components healthy and prints
the UI URL and the login.

Everything lives in one git-ignored folder (``.run/airflow/`` by default): ``<component>.log``,
``<component>.pid``, ``home/`` (AIRFLOW_HOME, task logs under ``home/logs``), the generated
secrets and ``env.sh``, which sets the same environment for the ``airflow`` CLI::

    source .run/airflow/env.sh && airflow backfill create --dag-id postgres_taxi_green ...

Each component runs under scripts/supervise.py, which starts it again when it exits (the
scheduler exits when Postgres restarts), as compose's ``restart: always`` does; the restarts are
lines in its log. ``down`` (and a failed ``up``) stops every process ``up`` started, by the PIDs it
wrote: each component runs in its own session, so its process group (the supervisor, task
runners, executor workers) goes with it. Postgres is shared with ``make run`` and keeps running (``make pg-down`` stops it).

Settings (environment): AIRFLOW_LOCAL_DIR, AIRFLOW_LOCAL_PORT (8080), AIRFLOW_LOCAL_USER /
AIRFLOW_LOCAL_PASSWORD (admin/admin), AIRFLOW_LOCAL_META_DB (airflow_meta), AIRFLOW_LOCAL_TAXI_DB
(ny_taxi), AIRFLOW_LOCAL_TIMEOUT (seconds to healthy, 240), AIRFLOW_LOCAL_RUN_TIMEOUT (seconds
``run``/``backfill`` wait for the runs, 14400), AIRFLOW_LOCAL_EXECUTOR (local, or celery: CeleryExecutor with
a redis-server broker on AIRFLOW_LOCAL_REDIS_PORT, 6399, and AIRFLOW_LOCAL_CELERY_WORKERS workers, 2), PG_DIR / PG_PORT (scripts/pg.sh's),
NY_TAXI_* (the DAGs' settings, see plugins/taxi_pipeline/settings.py), AIRFLOW_VAR_NY_TAXI_SOURCE.
The module is stdlib-only so that ``down`` works without the venv; tests drive :class:`LocalAirflow`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_SCRIPT = ROOT / "scripts" / "pg.sh"
sys.path.insert(0, str(ROOT))
from scripts.run_terminal import postgres_not_started  # noqa: E402  (stdlib-only, as this module)
SUPERVISE = ROOT / "scripts" / "supervise.py"
PROJECT_DAGS = ("postgres_taxi_green", "postgres_taxi_yellow")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise SystemExit(f"airflow_local: {name} must be an integer, got {raw!r}")
    return int(raw)


@dataclass
class LocalAirflowSettings:
    """Where and how the local Airflow runs; ``from_env`` reads the variables in the module doc."""

    run_dir: Path = ROOT / ".run" / "airflow"
    port: int = 8080
    user: str = "admin"
    password: str = "admin"
    meta_db: str = "airflow_meta"
    taxi_db: str = "ny_taxi"
    pg_dir: Path = ROOT / ".pg"
    pg_port: int = 54329
    triggerer: bool = False
    timeout: float = 240.0
    # "local" (LocalExecutor) or "celery": CeleryExecutor, a redis-server broker on 127.0.0.1 and
    # ``celery_workers`` workers, the compose stack's scale-out on one machine.
    executor: str = "local"
    celery_workers: int = 2
    redis_port: int = 6399
    # The environment the components inherit, before this script's own settings are applied.
    base_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Applied last: wins over everything (tests use it for e.g. paused-at-creation).
    overrides: Mapping[str, str] = field(default_factory=dict)
    # A migrated metadata DB on the same server to copy instead of running `airflow db migrate`
    # (5-10 s of every start): the end-to-end tests migrate one a session (tests/support/e2e_airflow.py).
    meta_template: str = ""

    @classmethod
    def from_env(cls) -> LocalAirflowSettings:
        env = os.environ
        return cls(
            run_dir=Path(env.get("AIRFLOW_LOCAL_DIR") or ROOT / ".run" / "airflow").resolve(),
            port=_env_int("AIRFLOW_LOCAL_PORT", 8080),
            user=env.get("AIRFLOW_LOCAL_USER") or "admin",
            password=env.get("AIRFLOW_LOCAL_PASSWORD") or "admin",
            meta_db=env.get("AIRFLOW_LOCAL_META_DB") or "airflow_meta",
            taxi_db=env.get("AIRFLOW_LOCAL_TAXI_DB") or "ny_taxi",
            pg_dir=Path(env.get("PG_DIR") or ROOT / ".pg").resolve(),
            pg_port=_env_int("PG_PORT", 54329),
            timeout=float(_env_int("AIRFLOW_LOCAL_TIMEOUT", 240)),
            executor=_executor(env.get("AIRFLOW_LOCAL_EXECUTOR") or "local"),
            celery_workers=_env_int("AIRFLOW_LOCAL_CELERY_WORKERS", 2),
            redis_port=_env_int("AIRFLOW_LOCAL_REDIS_PORT", 6399),
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _executor(name: str) -> str:
    if name not in ("local", "celery"):
        raise SystemExit(f"airflow_local: AIRFLOW_LOCAL_EXECUTOR (make EXECUTOR=) must be local or celery, got {name!r}")
    return name


class StartupError(RuntimeError):
    """``up`` failed; the message says which step, the component logs say why."""


class LocalAirflow:
    """Start, query and stop the components. Safe to use from tests (no global state)."""

    def __init__(self, settings: LocalAirflowSettings) -> None:
        self.s = settings
        self.run_dir = settings.run_dir
        self.home = self.run_dir / "home"
        self._restarts_before: dict[str, int] = {}

    # --- the components ------------------------------------------------------------------------

    @property
    def components(self) -> dict[str, list[str]]:
        airflow = str(Path(sys.executable).with_name("airflow"))
        # --skip-serve-logs: the log servers would bind every interface; the api-server reads the
        # task logs from the shared local folder instead.
        out = {
            "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.s.port)],
            "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
            "dag-processor": [airflow, "dag-processor"],
        }
        if self.s.triggerer:
            out["triggerer"] = [airflow, "triggerer", "--skip-serve-logs"]
        if self.s.executor == "celery":
            redis = shutil.which("redis-server") or "redis-server"
            # The broker only: nothing to persist (Airflow's state is in Postgres).
            out["redis"] = [redis, "--bind", "127.0.0.1", "--port", str(self.s.redis_port), "--save", "",
                            "--appendonly", "no", "--dir", str(self.run_dir)]
            for n in range(1, self.s.celery_workers + 1):
                out[f"worker-{n}"] = [airflow, "celery", "worker", "--celery-hostname", f"worker-{n}@%h",
                                      "--concurrency", "4", "--skip-serve-logs"]
        return out

    def restarts(self, name: str) -> list[str]:
        """The supervisor's lines about ``name`` exiting and being started again."""
        path = self.log_path(name)
        text = path.read_text(errors="replace") if path.exists() else ""
        return [line for line in text.splitlines() if line.startswith(f"[supervise] {name} exited")]

    def log_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    def pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    # --- environment ---------------------------------------------------------------------------

    def _pg_env(self, database: str) -> dict[str, str]:
        return {**self.s.base_env, "PG_DIR": str(self.s.pg_dir), "PG_PORT": str(self.s.pg_port), "PG_DB": database}

    def pg(self, *args: str, database: str | None = None) -> str:
        done = subprocess.run(
            [str(PG_SCRIPT), *args],
            env=self._pg_env(database or self.s.taxi_db),
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0:  # the whole output to a log; one line here (port in use, initdb failed, ...)
            log = self.log_path(f"pg-{args[0]}")
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(done.stdout + done.stderr)
            why = postgres_not_started(done.stdout + done.stderr, str(self.s.pg_port), str(self.s.pg_dir), "make airflow-up")
            raise StartupError(f"scripts/pg.sh {' '.join(args)}: {why.removeprefix('postgres did not start: ')} "
                               f"(output: {log})")
        return done.stdout.strip()

    def _secrets(self) -> dict[str, str]:
        """Per-installation secrets, generated once: every component must share the JWT secret."""
        path = self.run_dir / "secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        values = {
            "jwt_secret": secrets.token_urlsafe(32),
            "api_secret_key": secrets.token_urlsafe(32),
            "fernet_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        }
        path.touch(mode=0o600)
        path.write_text(json.dumps(values))
        return values

    def airflow_env(self) -> dict[str, str]:
        """The settings every component (and the CLI) gets; the caller's AIRFLOW__* are kept unless set here."""
        keys = self._secrets()
        pg_user_uri = f"root:root@127.0.0.1:{self.s.pg_port}"
        ours = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            # Airflow's reader of plugins/.airflowignore warns of a pathspec deprecation in every process.
            "PYTHONWARNINGS": "ignore:GitWildMatchPattern:DeprecationWarning",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",  # cosmos pings a usage endpoint per task otherwise
            # No lineage emitted; cosmos reads the namespace at import and warns when it is unset.
            "AIRFLOW__OPENLINEAGE__DISABLED": "True", "AIRFLOW__OPENLINEAGE__NAMESPACE": "ny_taxi",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{pg_user_uri}/{self.s.meta_db}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.s.port),
            "AIRFLOW__API__BASE_URL": self.s.base_url,
            "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
            # Task runners report to the api-server's execution API: it must be this port.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.s.base_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.s.user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.run_dir / "passwords.json"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            # The project's connection (the course's root/root credentials on the local server).
            "AIRFLOW_CONN_NY_TAXI_POSTGRES": f"postgresql://{pg_user_uri}/{self.s.taxi_db}",
            # check_quality writes each run's summary as its note through the REST API (run_note.py).
            "AIRFLOW_CONN_NY_TAXI_AIRFLOW_API": f"http://{quote(self.s.user)}:{quote(self.s.password)}@127.0.0.1:{self.s.port}",
        }
        # Defaults the caller's environment may override. The scheduler sleeps this long when a loop
        # found nothing to do (Airflow's default is 1 s): a month's five short tasks each wait for
        # a loop, so a local instance that answers in 0.25 s finishes a backfill much sooner.
        defaults = {"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25"}
        if self.s.executor == "celery":
            ours.update({
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.s.redis_port}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{pg_user_uri}/{self.s.meta_db}",
            })
        return {**defaults, **self.s.base_env, **ours, **self.s.overrides}

    def write_env_file(self, env: Mapping[str, str]) -> Path:
        """``env.sh``: the components' settings, to run the ``airflow`` CLI against this instance."""
        path = self.run_dir / "env.sh"
        names = sorted(k for k in env if k.startswith(("AIRFLOW", "NY_TAXI_")))
        lines = ["# Generated by scripts/airflow_local.py: `source` it to use the airflow CLI on this instance."]
        lines += [f"export {k}={shlex.quote(env[k])}" for k in names]
        lines.append(f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:\"$PATH\"")
        path.touch(mode=0o600)
        path.write_text("\n".join(lines) + "\n")
        return path

    def write_passwords(self) -> None:
        """The simple auth manager reads ``{user: password}`` from this file; it never prints one."""
        path = self.run_dir / "passwords.json"
        path.touch(mode=0o600)
        path.write_text(json.dumps({self.s.user: self.s.password}) + "\n")

    # --- processes -----------------------------------------------------------------------------

    def pids(self) -> dict[str, int]:
        out = {}
        for path in sorted(self.run_dir.glob("*.pid")):  # this start's components and any earlier ones
            name = path.stem
            if path.exists():
                try:
                    out[name] = int(path.read_text().strip())
                except ValueError:
                    path.unlink()
        return out

    @staticmethod
    def alive(pid: int) -> bool:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has exited
            if waited == pid:
                return False
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:  # a zombie is dead for our purposes
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
        except OSError:
            return True

    def start_component(self, name: str, env: Mapping[str, str]) -> int:
        """Start ``name`` under scripts/supervise.py, which starts it again whenever it exits (the
        scheduler does when Postgres restarts), as compose's ``restart: always`` does."""
        log = self.log_path(name).open("ab")
        proc = subprocess.Popen(
            [sys.executable, str(SUPERVISE), name, "--", *self.components[name]],
            env=dict(env),
            cwd=str(self.run_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `down` stops its children with it
        )
        log.close()
        self.pid_path(name).write_text(f"{proc.pid}\n")
        return proc.pid

    def stop(self, grace: float = 30.0) -> list[str]:
        """SIGTERM each started process group, wait ``grace`` s, then SIGKILL what is left."""
        pids = self.pids()
        for pid in pids.values():
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_group_alive(p) for p in pids.values()):
            time.sleep(0.2)
        for pid in pids.values():
            if _group_alive(pid):
                _signal_group(pid, signal.SIGKILL)
        for name in pids:
            self.pid_path(name).unlink(missing_ok=True)
        return [f"{name} (pid {pid})" for name, pid in pids.items()]

    # --- HTTP ----------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                timeout: float = 10.0) -> tuple[int, Any]:
        """(status, parsed JSON or text) of one API call; HTTP errors are returned, not raised."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.s.base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def token(self) -> str:
        status, body = self.request("POST", "/auth/token", {"username": self.s.user, "password": self.s.password})
        if status not in (200, 201):
            raise StartupError(f"POST /auth/token: HTTP {status}: {body}")
        return body["access_token"]

    def health(self) -> dict[str, Any] | None:
        try:
            status, body = self.request("GET", "/api/v2/monitor/health", timeout=5)
        except (OSError, urllib.error.URLError):
            return None
        return body if status == 200 and isinstance(body, dict) else None

    @staticmethod
    def is_healthy(health: Mapping[str, Any] | None, triggerer: bool = False) -> bool:
        needed = ["metadatabase", "scheduler", "dag_processor"] + (["triggerer"] if triggerer else [])
        return bool(health) and all((health.get(k) or {}).get("status") == "healthy" for k in needed)

    # --- up / down -----------------------------------------------------------------------------

    def up(self, say=print, before_scheduler: Callable[[], None] | None = None) -> float:
        """Start everything; return seconds until healthy with the DAGs parsed. Stops all on failure.

        ``before_scheduler`` runs once the DAGs are parsed and before any run can be created.
        """
        started = time.monotonic()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._restarts_before = {name: len(self.restarts(name)) for name in self.components}  # logs append
        running = {n: p for n, p in self.pids().items() if self.alive(p)}
        if running and set(running) == set(self.components) and self.is_healthy(self.health(), self.s.triggerer):
            say(f"airflow already running: {', '.join(f'{n} (pid {p})' for n, p in running.items())}")
            return 0.0
        if self.pids():
            say(f"stopping leftovers of an earlier start: {', '.join(self.stop())}")
        _check_port_free(self.s.port)
        try:
            say(f"postgres: {self.pg('start')}")
            env = self.airflow_env()
            self.home.mkdir(exist_ok=True)
            self.write_passwords()
            self.write_env_file(env)
            if self.s.meta_template and not self._meta_db_exists():  # a restart keeps its own DB
                self.pg("psql", "-v", "ON_ERROR_STOP=1", "-qc",
                        f'CREATE DATABASE "{self.s.meta_db}" TEMPLATE "{self.s.meta_template}"', database="postgres")
                say(f"metadata DB: a copy of {self.s.meta_template} (migrated)")
            else:
                self.pg("createdb", self.s.meta_db)
                say(f"airflow db migrate: {self.migrate(env):.1f} s")
            # Task runners report to the api-server: a task the scheduler starts before it answers
            # fails (connection refused). And DAGs to keep paused must be paused before the
            # scheduler can catch them up. So: api-server and dag-processor, then the scheduler.
            first = ("redis", "api-server", "dag-processor") if "redis" in self.components else ("api-server", "dag-processor")
            for name in first:
                say(f"starting {name}: pid {self.start_component(name, env)}")
            self._wait_api(started)
            say(f"api-server answering after {time.monotonic() - started:.1f} s")
            self._wait_dags(started)
            say(f"DAGs parsed after {time.monotonic() - started:.1f} s")
            for dag_id in self.pause_unconfigured(env):
                say(f"paused {dag_id}: no GCP settings in the environment (AIRFLOW_VAR_GCP_PROJECT_ID); unpause it in the UI once set")
            if before_scheduler is not None:
                before_scheduler()
            for name in [n for n in self.components if n not in first]:
                say(f"starting {name}: pid {self.start_component(name, env)}")
            self._wait_healthy(started)
            self._wait_workers(started)
            say(f"healthy after {time.monotonic() - started:.1f} s")
        except BaseException as exc:
            stopped = self.stop()
            say(f"airflow startup failed: {exc}")
            logs = [str(self.log_path(n)) for n in ("db-migrate", *self.components) if self.log_path(n).exists()]
            say(f"component logs: {', '.join(logs) or 'none written'}")
            say(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            raise
        return time.monotonic() - started

    def _meta_db_exists(self) -> bool:
        sql = f"SELECT count(*) FROM pg_database WHERE datname = '{self.s.meta_db}'"
        return self.pg("psql", "-Atc", sql, database="postgres") == "1"

    def migrate(self, env: Mapping[str, str]) -> float:
        """``airflow db migrate`` of the metadata DB; its seconds."""
        started = time.monotonic()
        self._run_logged("db-migrate", [str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env)
        return time.monotonic() - started

    def _run_logged(self, name: str, argv: list[str], env: Mapping[str, str], timeout: float = 300) -> None:
        with self.log_path(name).open("ab") as log:
            done = subprocess.run(argv, env=dict(env), cwd=str(self.run_dir), stdout=log,
                                  stderr=subprocess.STDOUT, timeout=timeout)
        if done.returncode != 0:
            raise StartupError(f"{' '.join(argv[1:])} exited {done.returncode} (log: {self.log_path(name)})")

    def _deadline_check(self, started: float, what: str) -> None:
        for name, pid in self.pids().items():
            if not self.alive(pid):
                raise StartupError(f"{name} (pid {pid}) exited while waiting for {what}")
            restarts = self.restarts(name)
            if len(restarts) > self._restarts_before.get(name, 0):  # its supervisor had to start it again
                raise StartupError(f"{name} exited while waiting for {what} ({restarts[-1]}): see {self.log_path(name)}")
        if time.monotonic() - started > self.s.timeout:
            raise StartupError(f"not {what} after {self.s.timeout:.0f} s (AIRFLOW_LOCAL_TIMEOUT)")

    def _wait_api(self, started: float) -> None:
        while self.health() is None:
            self._deadline_check(started, "answering (api-server)")
            time.sleep(0.5)

    def _wait_healthy(self, started: float) -> None:
        while not self.is_healthy(self.health(), self.s.triggerer):
            self._deadline_check(started, "healthy")
            time.sleep(1)

    def _wait_workers(self, started: float) -> None:
        """Celery workers are not in /monitor/health: wait until each logs that it is ready."""
        for name in [n for n in self.components if n.startswith("worker-")]:
            while f"{name}@" not in self.log_path(name).read_text(errors="replace") or \
                    " ready." not in self.log_path(name).read_text(errors="replace"):
                if not self.alive(self.pids().get(name, -1)):
                    raise StartupError(f"{name} exited: see {self.log_path(name)}")
                self._deadline_check(started, f"{name} ready")
                time.sleep(1)

    def _wait_dags(self, started: float) -> None:
        token = self.token()
        while True:
            status, body = self.request("GET", "/api/v2/dags?limit=100", token=token)
            found = {d["dag_id"] for d in body.get("dags", [])} if status == 200 else set()
            if set(PROJECT_DAGS) <= found:
                return
            self._deadline_check(started, f"showing {', '.join(sorted(set(PROJECT_DAGS) - found))}")
            time.sleep(1)

    def pause_unconfigured(self, env: Mapping[str, str]) -> list[str]:
        """Pause the GCP DAGs on their first start when no GCP project is configured: their catchup
        could only fail. DAGs that already have runs (or are paused) are left as they are."""
        if env.get("AIRFLOW_VAR_GCP_PROJECT_ID"):
            return []
        token, paused = self.token(), []
        status, body = self.request("GET", "/api/v2/dags?dag_id_pattern=gcp_%&limit=100", token=token)
        for dag in body.get("dags", []) if status == 200 else []:
            _, runs = self.request("GET", f"/api/v2/dags/{dag['dag_id']}/dagRuns?limit=1", token=token)
            if not dag["is_paused"] and not runs.get("total_entries"):
                self.request("PATCH", f"/api/v2/dags/{dag['dag_id']}", {"is_paused": True}, token=token)
                paused.append(dag["dag_id"])
        return paused

    def _restart_with(self, selected: list[str], say, *, paused: bool = False, also_paused: Sequence[str] = ()) -> None:
        """(Re)start with this environment's window and source, the ``selected`` project DAGs
        unpaused (``paused``: every project DAG paused) and the others paused; ``also_paused``
        (e.g. the dbt DAGs, which each merge's Asset triggers) paused before the scheduler starts."""
        if self.pids():
            say(f"restarting, so the window and source apply: stopped {', '.join(self.stop())}")

        def choose() -> None:
            token = self.token()
            for dag_id in PROJECT_DAGS:
                self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused or dag_id not in selected}, token=token)
            for dag_id in also_paused:  # parsed a little later than the project DAGs, maybe
                deadline = time.monotonic() + 60
                while self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": True}, token=token)[0] == 404:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{dag_id} did not appear within 60 s, so it could not be paused")
                    time.sleep(0.5)
            if not paused:
                say(f"unpaused {', '.join(selected)}; paused {', '.join(set(PROJECT_DAGS) - set(selected)) or 'nothing'}")

        self.up(say, before_scheduler=choose)

    def run(self, taxis: list[str], say=print, *, also_paused: Sequence[str] = ()) -> int:
        """(Re)start with this environment's window, let the scheduler catch up the chosen taxi
        types' Postgres DAGs (the others paused), wait for every run, print them and the rows per
        file. Airflow keeps running afterwards. Returns 1 if a run failed."""
        selected = [f"postgres_taxi_{taxi}" for taxi in taxis]
        self._restart_with(selected, say, also_paused=also_paused)
        env = self.airflow_env()
        window = _window_bounds(env.get("NY_TAXI_START_MONTH") or "2019-01", env.get("NY_TAXI_END_MONTH") or "2021-07")
        return self._wait_and_report(selected, taxis, window, say, catchup=True)

    def backfill(self, taxis: list[str], start: str, end: str, *, reprocess: str = "none",
                 max_active_runs: int = 2, say=print) -> int:
        """``airflow backfill create`` over ``start``..``end`` (YYYY-MM, inclusive) for the taxi
        types' Postgres DAGs, on an Airflow (re)started with that range as its window: catchup
        then finds every month taken by the backfill and adds no run of its own. Waits, prints the
        runs and the rows per file; Airflow keeps running. Returns 1 if a run failed."""
        selected = [f"postgres_taxi_{taxi}" for taxi in taxis]
        self.s.overrides = {**self.s.overrides, "NY_TAXI_START_MONTH": start, "NY_TAXI_END_MONTH": end}
        self._restart_with(selected, say, paused=True)  # a backfill is created on a paused DAG, then unpaused
        window = _window_bounds(start, end)
        first = window[0]
        airflow = str(Path(sys.executable).with_name("airflow"))
        for dag_id in selected:
            argv = [airflow, "backfill", "create", "--dag-id", dag_id, "--from-date", first[:10],
                    "--to-date", _last_day(end), "--reprocess-behavior", reprocess,
                    "--max-active-runs", str(max_active_runs)]
            say("$ " + " ".join(["airflow", *argv[1:]]))
            done = subprocess.run(argv, env=self.airflow_env(), capture_output=True, text=True, timeout=300)
            if done.returncode != 0:  # the CLI's whole output (a traceback, often) to a log; its last line here
                log = self.log_path(f"backfill-{dag_id}")
                log.write_text(done.stdout + done.stderr)
                last = next((line.strip() for line in reversed((done.stdout + done.stderr).splitlines()) if line.strip()), "")
                say(f"airflow backfill create failed ({done.returncode}): {last} (output: {log})")
                return 1
            say(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "backfill created")
            self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False}, token=self.token())
        return self._wait_and_report(selected, taxis, window, say, catchup=False)

    def _wait_and_report(self, selected: list[str], taxis: list[str], window: tuple[str, str], say,
                         *, catchup: bool) -> int:
        """Wait until every run of ``selected`` in ``window`` has finished (``catchup``: and the
        scheduler has none left to create), print each and the rows per file."""
        first, after = window
        token, deadline, last_note = self.token(), time.monotonic() + _env_int("AIRFLOW_LOCAL_RUN_TIMEOUT", 4 * 3600), 0.0
        while True:
            try:
                runs, pending = {}, 0
                for dag_id in selected:
                    query = f"logical_date_gte={first}&logical_date_lt={after}&order_by=logical_date&limit=1000"
                    _, body = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?{query}", token=token)
                    runs[dag_id] = body.get("dag_runs", [])
                    pending += sum(r["state"] not in ("success", "failed") for r in runs[dag_id])
                    if catchup:
                        _, dag = self.request("GET", f"/api/v2/dags/{dag_id}", token=token)
                        pending += dag.get("next_dagrun_logical_date") is not None
            except OSError as exc:
                # A busy api-server (2 cores, tasks starting) can miss one poll's 10 s timeout while
                # the runs go on; waiting is this loop's job, so one slow answer is not a failure.
                say(f"the api-server did not answer this poll ({exc}); polling again")
                pending = 1
            if not pending:
                break
            if time.monotonic() > deadline:
                say("timed out waiting for the runs (AIRFLOW_LOCAL_RUN_TIMEOUT); Airflow keeps running")
                return 1
            if time.monotonic() - last_note >= 30:
                done = sum(r["state"] in ("success", "failed") for rs in runs.values() for r in rs)
                say(f"{'catching up' if catchup else 'backfilling'}: {done} runs finished, {pending} to go")
                last_note = time.monotonic()
            time.sleep(2)
        failed = []
        env = self.airflow_env()
        for dag_id, dag_runs in runs.items():
            for r in dag_runs:
                took = _seconds(r["start_date"], r["end_date"])
                say(f"{dag_id} {r['logical_date'][:7]}: {r['state']} in {took:.1f} s ({r['dag_run_id']})")
                if r["state"] != "success":
                    failed.append(f"{dag_id} {r['logical_date'][:7]}")
        say(self._rows_per_file(env["AIRFLOW_CONN_NY_TAXI_POSTGRES"], taxis))
        if failed:
            say(f"failed: {', '.join(failed)}: task logs in the UI or {self.home / 'logs'}")
        return 1 if failed else 0

    @staticmethod
    def _rows_per_file(uri: str, taxis: list[str]) -> str:
        import psycopg  # the venv's; only `run` needs it

        lines = [f"{'filename':<30} {'rows':>12}"]
        with psycopg.connect(uri) as db:
            for taxi in taxis:
                if db.execute("SELECT to_regclass(%s)", (f"public.{taxi}_tripdata",)).fetchone()[0]:
                    for filename, count in db.execute(
                        f"SELECT filename, count(*) FROM public.{taxi}_tripdata GROUP BY 1 ORDER BY 1"
                    ).fetchall():
                        lines.append(f"{filename:<30} {count:>12,}")
        return "\n".join(lines)

    def log_tails(self, lines: int = 40) -> str:
        out = []
        for name in ("db-migrate", *self.components):
            path = self.log_path(name)
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"---- last {len(tail)} lines of {path} ----\n" + "\n".join(tail))
        return "\n".join(out)


def _window_bounds(first: str, last: str) -> tuple[str, str]:
    """ISO bounds [first month's start, the month after last) for the runs API."""
    year, month = (int(x) for x in last.split("-"))
    after = f"{year + month // 12:04d}-{month % 12 + 1:02d}"
    return f"{first}-01T00:00:00Z", f"{after}-01T00:00:00Z"


def _last_day(month: str) -> str:
    """``YYYY-MM`` -> its last day, ``YYYY-MM-DD`` (a backfill's inclusive ``--to-date``)."""
    import calendar

    year, number = (int(x) for x in month.split("-"))
    return f"{month}-{calendar.monthrange(year, number)[1]:02d}"


def _seconds(start: str | None, end: str | None) -> float:
    from datetime import datetime

    if not start or not end:
        return 0.0
    parse = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the component was started as its own session/group leader
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return any(_pgid_of(p) == pid for p in _all_pids())


def _all_pids() -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def _pgid_of(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[2])  # state, ppid, pgrp


def _check_port_free(port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is fine
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise SystemExit(
                f"airflow_local: 127.0.0.1:{port} is in use ({exc.strerror}); set AIRFLOW_LOCAL_PORT"
            ) from None


def _checked_month(text: str | None, name: str) -> str:
    import re

    if not text or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise SystemExit(f"airflow_local: {name} must be a month YYYY-MM, got {text!r}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "run", "backfill"])
    parser.add_argument("--triggerer", action="store_true", help="also start the triggerer (deferrable tasks)")
    parser.add_argument("--taxi", default="all", choices=["green", "yellow", "all"], help="`run`/`backfill`: which DAGs")
    parser.add_argument("--start", help="`backfill`: first month, YYYY-MM")
    parser.add_argument("--end", help="`backfill`: last month, YYYY-MM (inclusive)")
    parser.add_argument("--reprocess", default="none", choices=["none", "failed", "completed"],
                        help="`backfill`: months that already have a run: skip (none), re-run failed ones, or all")
    parser.add_argument("--max-active-runs", type=int, default=2, help="`backfill`: months at once (Airflow's default is 10)")
    args = parser.parse_args(argv)
    settings = LocalAirflowSettings.from_env()
    settings.triggerer = args.triggerer
    airflow = LocalAirflow(settings)

    if args.command == "down":
        stopped = airflow.stop()
        print(f"stopped: {', '.join(stopped)}" if stopped else "airflow: nothing to stop")
        print("postgres keeps running (shared with `make run`): `make pg-down` stops it")
        return 0
    if args.command == "status":
        pids = airflow.pids()
        for name, pid in pids.items():
            print(f"{name}: pid {pid} {'running' if airflow.alive(pid) else 'NOT running'}")
        health = airflow.health()
        print(f"health: {json.dumps(health) if health else 'api-server not answering'}")
        return 0 if airflow.is_healthy(health, settings.triggerer) else 1

    taxis = ["green", "yellow"] if args.taxi == "all" else [args.taxi]
    if args.command in ("run", "backfill"):
        if args.command == "backfill":
            months = [_checked_month(args.start, "START"), _checked_month(args.end, "END")]
            if months[0] > months[1]:
                raise SystemExit(f"airflow_local: START {args.start} is after END {args.end}")
            drive = lambda: airflow.backfill(taxis, *months, reprocess=args.reprocess,  # noqa: E731
                                             max_active_runs=args.max_active_runs)
        else:
            drive = lambda: airflow.run(taxis)  # noqa: E731
        try:
            code = drive()
        except (StartupError, subprocess.TimeoutExpired) as exc:
            print(f"airflow_local: {exc}", file=sys.stderr)
            return 1
        print(f"\nAirflow keeps running: UI {settings.base_url} (login {settings.user} / {settings.password}); "
              "`make airflow-down` stops it")
        return code
    try:
        seconds = airflow.up()
    except (StartupError, subprocess.TimeoutExpired) as exc:
        print(f"airflow_local: {exc}", file=sys.stderr)
        return 1
    env = airflow.airflow_env()
    took = f"{seconds:.1f} s to healthy with the DAGs parsed" if seconds else "it was already running"
    print(
        f"\nAirflow is up ({took})\n"
        f"  UI:      {settings.base_url}   login: {settings.user} / {settings.password}\n"
        f"  loads:   {settings.base_url}/taxi-loads/ (Browse > Taxi loads), metrics {settings.base_url}/taxi-loads/metrics\n"
        f"  window:  {env.get('NY_TAXI_START_MONTH') or '2019-01'} .. {env.get('NY_TAXI_END_MONTH') or '2021-07'}"
        f"   source: {env.get('AIRFLOW_VAR_NY_TAXI_SOURCE') or 'GitHub releases (default)'}\n"
        f"  taxi DB: {env['AIRFLOW_CONN_NY_TAXI_POSTGRES'].replace(':root@', ':***@')}\n"
        f"  logs:    {settings.run_dir}/<component>.log, task logs in {airflow.home / 'logs'}\n"
        f"  CLI:     source {settings.run_dir / 'env.sh'} && airflow dags list\n"
        f"  stop:    make airflow-down"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
