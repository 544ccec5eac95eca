"""What ``make run`` prints (scripts/run_local.py as a subprocess): a header, a line per month, one
line per expected failure with its cause and its fix, the rows-per-file table, the log file named
at the end; no traceback, and few lines (the targets: 30 for a run from a mirror, 40 when every
month fails).

One Airflow home (``MAKE_RUN_AIRFLOW_HOME``, a temp dir: the developer's ``.airflow/`` is never
touched), one database and one mirror for the whole file, served over HTTP by a real server; the
mirror's five green months are one good month and one of each broken kind, so one run covers
them all (each run pays Airflow's start-up, about 30 s here).
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import fake_tlc
from tests.support.http_server import Fault, FixtureServer
from tests.support.net import free_port
from taxi_pipeline.specs import SPECS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
GREEN = SPECS["green"]
ROWS = 200


@pytest.fixture(scope="module")
def run_env(pg_server, tmp_path_factory) -> dict[str, str]:
    """The environment of a ``make run``: the test Postgres (a database of its own), a temp Airflow home."""
    database = pg_server.create_database()
    env = {k: v for k, v in os.environ.items() if k not in ("VERBOSE", "LOG_LEVEL")}
    env.update({**pg_server.env, "PG_DB": database, "NY_TAXI_RETRIES": "0",
                "MAKE_RUN_AIRFLOW_HOME": str(tmp_path_factory.mktemp("make-run-home"))})
    yield env
    pg_server.run("dropdb", database)


def make_run(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "run_local.py"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def terminal(done: subprocess.CompletedProcess[str]) -> list[str]:
    return (done.stdout + done.stderr).splitlines()


def line_of(lines: list[str], prefix: str) -> str:
    found = [line for line in lines if line.startswith(prefix)]
    assert len(found) == 1, f"one line starting {prefix!r} expected:\n" + "\n".join(lines)
    return found[0]


@pytest.fixture(scope="module")
def mirror_run(run_env, tmp_path_factory) -> subprocess.CompletedProcess[str]:
    """green 2020-01..2020-05 from a mirror over HTTP: 01 good (its download pauses for 5.5 s: a
    progress line is due), 02 missing (404), 03 truncated, 04 not gzip, 05 a renamed column."""
    root = tmp_path_factory.mktemp("mirror")
    good = fake_tlc.write_month(root, GREEN, 2020, 1, ROWS, seed=7)
    truncated = fake_tlc.write_month(root, GREEN, 2020, 3, ROWS, seed=7).path
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    fake_tlc.release_path(root, "green", 2020, 4).write_bytes(b"this is not a gzip file\n" * 100)
    drifted = fake_tlc.release_path(root, "green", 2020, 5)
    header = GREEN.header.replace("fare_amount", "fare")
    drifted.write_bytes(gzip.compress(f"{header}\n".encode()))
    with FixtureServer(root) as server:
        server.add_faults(good.url_path, Fault.stall(5.5, after_bytes=1000), method="GET")
        return make_run(run_env, "--taxi", "green", "--start", "2020-01", "--end", "2020-05",
                        "--source", server.base_url)


def test_a_mirror_run_prints_a_header_a_line_per_month_and_the_table(mirror_run):
    lines = terminal(mirror_run)
    text = "\n".join(lines)
    assert mirror_run.returncode == 1, text
    assert "Traceback" not in text
    assert len(lines) <= 30, text
    header = line_of(lines, "make run: green 2020-01..2020-05 (5 months) from mirror http://127.0.0.1:")
    assert re.search(r"into postgres 127\.0\.0\.1:\d+/t_\w+$", header), header
    assert re.fullmatch(rf"green 2020-01: {ROWS} rows in the file, {ROWS} inserted, 0 skipped \(already there\), "
                        r"[\d.]+ s, [\d,]+ rows/s", line_of(lines, "green 2020-01: ")), text
    assert re.fullmatch(rf"green_tripdata_2020-01\.csv +{ROWS}", line_of(lines, "green_tripdata_2020-01.csv")), text
    # fetch.Progress's line (every 5 s of a download), on the terminal; the stall is before the rows
    assert re.fullmatch(r"  green 2020-01: 0\.0/0\.0 MB \(\d+%\) downloaded, .* rows/s, .* MB/s",
                        line_of(lines, "  green 2020-01: ")), text
    log = Path(line_of(lines, "full logs: ").removeprefix("full logs: "))
    assert "[DAG TEST]" in log.read_text()  # Airflow's logs went to the file, not the terminal
    assert line_of(lines, "failed: ") == "failed: green 2020-02, green 2020-03, green 2020-04, green 2020-05"


@pytest.mark.parametrize(
    ("month", "cause", "fix"),
    [
        ("2020-02", "not published after 0 days (looked at http://127.0.0.1:", "check START/END, or the mirror's layout"),
        ("2020-03", "green_tripdata_2020-03.csv.gz is truncated: the gzip stream ended after",
         "run again; if it repeats, the file at the source is truncated: replace it in the mirror"),
        ("2020-04", "green_tripdata_2020-04.csv.gz is not a valid gzip file", "replace it in the mirror"),
        ("2020-05", "green_tripdata_2020-05.csv.gz: columns do not match the green spec: missing ['fare_amount']; "
                    "unexpected ['fare']", "add the new names as aliases in plugins/taxi_pipeline/specs.py"),
    ],
    ids=["404", "truncated", "not-gzip", "header-drift"],
)
def test_each_broken_month_is_one_line_with_its_cause_and_its_fix(mirror_run, month, cause, fix):
    line = line_of(terminal(mirror_run), f"green {month}: ")
    assert cause in line and fix in line, line


@pytest.mark.parametrize(
    ("source", "cause"),
    [(f"http://127.0.0.1:{free_port()}/", "cannot reach 127.0.0.1:{port} (connection refused)"),
     ("http://nonexistent.invalid/", "cannot reach nonexistent.invalid (DNS lookup failed)")],
    ids=["refused", "dns"],
)
def test_an_unreachable_source_fails_every_month_at_once_in_one_line_per_type(run_env, source, cause):
    done = make_run(run_env, "--taxi", "all", "--start", "2019-01", "--end", "2019-02", "--source", source, timeout=120)
    lines = terminal(done)
    text = "\n".join(lines)
    assert done.returncode == 1 and "Traceback" not in text and len(lines) <= 40, text
    cause = cause.format(port=source.rsplit(":", 1)[-1].strip("/"))
    for taxi, months in [("green", "2019-01..2019-02"), ("yellow", "2019-01..2019-02"), ("fhv", "2019-01..2019-02"),
                         ("fhvhv", "2019-02")]:  # fhvhv files begin in 2019-02
        line = line_of(lines, f"{taxi} {months}: not loaded: ")
        assert cause in line and "use SOURCE=<mirror dir or URL>, or check the network and the proxy" in line, line


@pytest.mark.parametrize(
    ("args", "line"),
    [(["--taxi", "blue"], "make run: TAXI: expected one of green, yellow, fhv, fhvhv, all, got 'blue'"),
     (["--start", "2019-13"], "make run: START: month must be 01..12, got '2019-13'"),
     (["--start", "2019-03", "--end", "2019-02"], "make run: START=2019-03 is after END=2019-02"),
     (["--source", "/nonexistent/mirror"], "make run: SOURCE: directory /nonexistent/mirror does not exist")],
    ids=["taxi", "start", "start-after-end", "source"],
)
def test_a_bad_parameter_is_one_line_naming_it(run_env, args, line):
    done = make_run(run_env, *args, timeout=60)
    assert done.returncode == 2 and terminal(done) == [line], done.stdout + done.stderr
