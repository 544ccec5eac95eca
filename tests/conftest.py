"""Session fixtures: a real Postgres (scripts/pg.sh), an Airflow home with its own metadata DB, a
local HTTP server serving generated release-like files, and a fresh database per test.

Airflow reads its configuration at import, so the environment is set here, before any test module
imports airflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="ny-taxi-tests-"))
_SESSION_DIR.chmod(0o755)  # the Postgres server runs as a non-root user and must reach its data dir
os.environ.update(
    {
        "AIRFLOW_HOME": str(_SESSION_DIR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "PYTHONWARNINGS": "ignore:GitWildMatchPattern:DeprecationWarning",  # plugins/.airflowignore's reader (see there)
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_SESSION_DIR / 'airflow' / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",  # no internet here; and no usage pings from tests
        # OpenLineage off, as in every local setup (docs/install-states.md); the namespace is set
        # because cosmos reads it with no fallback, which logs a warning at every DagBag fill.
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "ny_taxi",
        # Failure tests must fail once, not wait through exponential backoff, nor for a month to
        # be published (wait_for_file: tests that wait set it back).
        "NY_TAXI_RETRIES": "0",
        "NY_TAXI_PUBLISH_WAIT_DAYS": "0",
    }
)

from tests.support.net import free_port  # noqa: E402  (ROOT is on sys.path from here)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """The two xdist workers' shares (pytest.ini: ``-n 2``): a test file goes whole to one worker,
    so its module fixtures are built once; and the end-to-end files (tests/e2e/), each a real
    Airflow of four to six processes, all go to the same worker, one Airflow at a time. Two at once
    on two cores starved an api-server past its 30 s request timeout; beside one Airflow, the other
    worker runs the in-process tests. (xdist's own ``--dist loadgroup`` does not group under pytest 9:
    it renames ``item._nodeid``, which pytest 9 no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class OneAirflowAtATime(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/e2e" if nodeid.startswith("tests/e2e/") else nodeid.split("::", 1)[0]

    return OneAirflowAtATime(config, log)


PG_SCRIPT = ROOT / "scripts" / "pg.sh"


class TestPostgres:
    """The session's Postgres server; ``create_database`` gives each test an empty database."""

    def __init__(self, pg_dir: Path, port: int) -> None:
        self.env = {**os.environ, "PG_DIR": str(pg_dir), "PG_PORT": str(port)}
        self.port = port

    def run(self, *args: str) -> str:
        done = subprocess.run([str(PG_SCRIPT), *args], env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/pg.sh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def uri(self, database: str) -> str:
        return f"postgresql://root:root@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.run("createdb", name)
        return name


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TestPostgres]:
    server = TestPostgres(_SESSION_DIR / "pg", free_port())
    server.run("start")
    yield server
    server.run("stop")


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database (sqlite: dag.test() runs tasks in-process)."""
    from airflow.utils.db import resetdb

    resetdb(skip_init=False)


@pytest.fixture
def taxi_db(pg_server: TestPostgres, monkeypatch: pytest.MonkeyPatch):
    """A fresh, empty ny_taxi database for one test, wired to the ``ny_taxi_postgres`` connection."""
    import psycopg

    name = pg_server.create_database()
    uri = pg_server.uri(name)
    monkeypatch.setenv("AIRFLOW_CONN_NY_TAXI_POSTGRES", uri)
    conn = psycopg.connect(uri, autocommit=True)
    yield conn
    conn.close()
    pg_server.run("dropdb", name)


@pytest.fixture(scope="session")
def release_root() -> Path:
    root = _SESSION_DIR / "release"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def fixture_server(release_root: Path):
    from tests.support.http_server import FixtureServer

    with FixtureServer(release_root) as server:
        yield server


@pytest.fixture
def source(fixture_server, monkeypatch: pytest.MonkeyPatch):
    """Point the DAGs at the local HTTP server (the Variable, through its env form)."""
    monkeypatch.setenv("AIRFLOW_VAR_NY_TAXI_SOURCE", fixture_server.base_url)
    return fixture_server


@pytest.fixture(scope="session")
def gcp_emulators():
    """fake-gcs-server + bqemulator on 127.0.0.1 sharing one directory (tests/support/gcp_emulators.py)."""
    from tests.support.gcp_emulators import GcpEmulators

    emulators = GcpEmulators(_SESSION_DIR / "gcp").start()
    print(f"GCP emulators started in {emulators.start_seconds:.1f} s")
    saved = {key: os.environ.get(key) for key in emulators.env}
    os.environ.update(emulators.env)
    os.environ.update(
        {
            "AIRFLOW_VAR_GCP_PROJECT_ID": emulators.project,
            "AIRFLOW_VAR_GCP_LOCATION": "US",
            "AIRFLOW_VAR_GCP_BUCKET_NAME": "ny-taxi-lake",
            "AIRFLOW_VAR_GCP_DATASET": "ny_taxi",
        }
    )
    yield emulators
    emulators.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
