"""What every benchmark module shares: paths, the environment, the benchmark's own Postgres, timing.

Importing this module sets up ``sys.path`` (plugins/, the repo root) and a private Airflow home, so
the project's hooks and templates work outside a DAG run exactly as inside one.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
WORK = Path(os.environ.get("BENCH_WORK") or BENCH_DIR / ".work")  # git-ignored: generated files, the server's data, Airflow homes
PG_SCRIPT = ROOT / "scripts" / "pg.sh"

sys.path[:0] = [p for p in (str(ROOT / "plugins"), str(ROOT)) if p not in sys.path]
os.environ.setdefault("AIRFLOW_HOME", str(WORK / "airflow-home"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BenchPostgres:
    """A Postgres of the benchmark's own (scripts/pg.sh with its own PG_DIR and port)."""

    def __init__(self, pg_dir: Path, port: int) -> None:
        self.pg_dir, self.port = pg_dir, port
        self.env = {**os.environ, "PG_DIR": str(pg_dir), "PG_PORT": str(port)}

    def run(self, *args: str) -> str:
        done = subprocess.run([str(PG_SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/pg.sh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self.run("destroy")  # a fresh cluster: every run starts from the same state
        self.run("start")

    def stop(self) -> None:
        self.run("stop")

    def uri(self, database: str) -> str:
        return f"postgresql://root:root@127.0.0.1:{self.port}/{database}"

    def recreate(self, database: str) -> str:
        self.run("dropdb", database)
        self.run("createdb", database)
        return self.uri(database)

    def connect(self, database: str, autocommit: bool = True):
        import psycopg

        return psycopg.connect(self.uri(database), autocommit=autocommit)

    def scalar(self, database: str, sql: str):
        with self.connect(database) as conn:
            return conn.execute(sql).fetchone()[0]

    def checkpoint(self) -> None:
        """Every timed step starts right after a checkpoint, so none inherits another's dirty pages."""
        with self.connect("postgres") as conn:
            conn.execute("CHECKPOINT")


@dataclass
class Samples:
    """Repeated measurements of one quantity (seconds unless said otherwise)."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def spread(self) -> str:
        """``median (min-max)``, the form every table uses."""
        return f"{self.median:.2f} ({self.low:.2f}-{self.high:.2f})"


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def rotated(items: list, turn: int) -> list:
    """``items`` starting at position ``turn``: each repetition runs the paths in another order."""
    turn %= len(items)
    return items[turn:] + items[:turn]
