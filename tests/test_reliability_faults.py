"""Faults and bad input on the Postgres DAG: real Postgres, a real HTTP server told to misbehave,
``dag.test()`` (which honours retries and their backoff). Every case ends with exact row counts.

* Transient faults (HTTP 500/503, a connection reset mid-stream, a body cut short with a
  Content-Length that agrees, a stalled server hitting the read timeout) are retried and the
  month then loads exactly once.
* Bad files (a cut last line, an HTML page, a wrong header, wrong field counts,
  values that do not parse) fail on the first try, naming the file, the line (counting the header)
  and the column; the main table is unchanged and no staging table is left.
* A source override that can never work fails in wait_for_file (its month and source resolved first), before any SQL.

The module has its own HTTP server and database (one preloaded month), so request logs and table
fingerprints belong to these tests alone.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from taxi_pipeline.specs import GREEN

from tests.support import fake_tlc
from tests.support.http_server import Fault, FixtureServer
from tests.test_postgres_pipeline import (
    rows_per_file,
    run_month,
    staging_tables,
    table_exists,
    table_fingerprint,
    task_states,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

ROWS = 300
PRELOADED = (2019, 1)  # loaded once for the module; every failing case must leave it as it is
BAD_MONTH = (2019, 6)  # rewritten by each bad-file case
BAD_LINE = 201  # the file line (header = line 1) the row-level cases break
# A hang inside a dag.test() task is not interrupted by pytest-timeout's default SIGALRM method
# (checked); the thread method dumps the stacks and ends the session instead of blocking CI.
HANG_LIMIT = pytest.mark.timeout(120, method="thread")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with FixtureServer(tmp_path_factory.mktemp("faults-release")) as running:
        yield running


@pytest.fixture(scope="module")
def db(pg_server, server, airflow_db):
    """This module's database, wired to ``ny_taxi_postgres``, with PRELOADED already merged."""
    import psycopg

    name = pg_server.create_database()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_CONN_NY_TAXI_POSTGRES", pg_server.uri(name))
        env.setenv("AIRFLOW_VAR_NY_TAXI_SOURCE", server.base_url)
        conn = psycopg.connect(pg_server.uri(name), autocommit=True)
        fake_tlc.write_month(server.root, GREEN, *PRELOADED, ROWS, seed=21)
        run = run_month("green", *PRELOADED)
        assert str(run.state) == "success", task_states(run)
        yield conn
        conn.close()
    pg_server.run("dropdb", name)


@pytest.fixture
def clean_server(server: FixtureServer):
    server.clear_faults()
    server.clear_requests()
    yield server
    server.clear_faults()


def try_number(dag_run, task_id: str) -> int:
    return next(ti.try_number for ti in dag_run.get_task_instances() if ti.task_id == task_id)


def retry_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three retries, 1 s first delay (backoff doubles it); read before the DAG is built."""
    monkeypatch.setenv("NY_TAXI_RETRIES", "3")
    monkeypatch.setenv("NY_TAXI_RETRY_DELAY_SECONDS", "1")


# --- transient faults: retried, then the month loads exactly once ------------------------------


@pytest.mark.parametrize(
    "month,faults,statuses,logged",
    [
        pytest.param(
            (2019, 2),
            lambda f: [Fault.status(500), Fault.status(503)],
            [500, 503, 200],
            ["HTTP 500 from {url} (will retry)", "HTTP 503 from {url} (will retry)"],
            id="http-500-then-503",
        ),
        pytest.param(
            (2019, 3),
            lambda f: [Fault.reset_after(f.gz_bytes // 2)],
            [200, 200],  # the reset came after a 200 status line
            ['green 2019-03: download of {url} broke off: ProtocolError("Connection broken: ConnectionResetError('],
            id="connection-reset-mid-stream",
        ),
        pytest.param(
            (2019, 5),
            lambda f: [Fault.truncate(f.gz_bytes // 2)],
            [200, 200],
            ["green 2019-05: {url} is truncated: the gzip stream ended after", "bytes without its end marker (will retry)"],
            id="body-truncated-with-agreeing-length",
        ),
    ],
)
def test_transient_http_faults_are_retried_and_the_month_loads_once(
    db, clean_server, monkeypatch, capfd, month, faults, statuses, logged
):
    retry_env(monkeypatch)
    month_file = fake_tlc.write_month(clean_server.root, GREEN, *month, ROWS, seed=22)
    url = clean_server.url(month_file.url_path)
    clean_server.add_faults(month_file.url_path, *faults(month_file), method="GET")  # the download, not wait_for_file's look
    before = rows_per_file(db, "green")
    assert GREEN.filename(*month) not in before

    run = run_month("green", *month)

    assert str(run.state) == "success", task_states(run)
    assert try_number(run, "load_staging") == len(statuses)
    assert [r.status for r in clean_server.requests if r.path == month_file.url_path and r.method == "GET"] == statuses
    out = capfd.readouterr().out
    for line in logged:
        assert line.format(url=url) in out
    assert rows_per_file(db, "green") == {**before, GREEN.filename(*month): ROWS}
    assert staging_tables(db) == []


@HANG_LIMIT
def test_stalled_server_hits_the_read_timeout_and_the_retry_loads_the_month(db, clean_server, monkeypatch, capfd):
    """The server sends half the file, then goes silent for 10 s; a 1 s read timeout ends the attempt."""
    retry_env(monkeypatch)
    monkeypatch.setenv("NY_TAXI_HTTP_READ_TIMEOUT", "1")
    month_file = fake_tlc.write_month(clean_server.root, GREEN, 2019, 4, ROWS, seed=23)
    clean_server.add_faults(month_file.url_path, Fault.stall(10, after_bytes=month_file.gz_bytes // 2), method="GET")
    before = rows_per_file(db, "green")
    assert GREEN.filename(2019, 4) not in before

    started = time.monotonic()
    run = run_month("green", 2019, 4)
    elapsed = time.monotonic() - started

    assert str(run.state) == "success", task_states(run)
    assert try_number(run, "load_staging") == 2
    assert clean_server.count(month_file.url_path, method="GET") == 2
    out = capfd.readouterr().out
    assert (
        f"green 2019-04: download of {clean_server.url(month_file.url_path)} broke off: ReadTimeoutError("
        f"\"HTTPConnectionPool(host='127.0.0.1', port={clean_server.port}): Read timed out.\")"
    ) in out
    assert elapsed < 10, f"the attempt waited out the stall ({elapsed:.1f} s) instead of timing out"
    assert rows_per_file(db, "green") == {**before, GREEN.filename(2019, 4): ROWS}
    assert staging_tables(db) == []


# --- bad files: fail at once, named, nothing written --------------------------------------------


def _lines(month_file: fake_tlc.MonthFile) -> list[str]:
    """The file's lines (index 0 = header = file line 1), without the trailing empty piece."""
    lines = gzip.decompress(month_file.path.read_bytes()).decode("ascii").split("\r\n")
    assert lines[-1] == ""
    return lines[:-1]


def _write(month_file: fake_tlc.MonthFile, lines: list[str], *, final_newline: bool = True) -> None:
    text = "\r\n".join(lines) + ("\r\n" if final_newline else "")
    month_file.path.write_bytes(gzip.compress(text.encode("ascii"), mtime=0))


def _set_field(lines: list[str], line_number: int, column: str, value: str) -> None:
    fields = lines[line_number - 1].split(",")
    fields[GREEN.dtc_columns.index(column)] = value
    lines[line_number - 1] = ",".join(fields)


def cut_last_line(f: fake_tlc.MonthFile, server: FixtureServer) -> str:
    """The download ends inside the last row: six fields and the first character of the seventh."""
    lines = _lines(f)
    fields = lines[-1].split(",")
    lines[-1] = ",".join(fields[:6]) + "," + fields[6][:1]
    _write(f, lines, final_newline=False)
    return f'{f.path.name}, line {ROWS + 1}: missing data for column "passenger_count"'


def too_many_fields(f: fake_tlc.MonthFile, server: FixtureServer) -> str:
    lines = _lines(f)
    lines[BAD_LINE - 1] += ",9"
    _write(f, lines)
    last, count = GREEN.dtc_columns[-1], len(GREEN.dtc_columns)
    return (f"{f.path.name}, line {BAD_LINE}: extra data after last expected column "
            f"({last}: the row has more than the header's {count} fields)")


def too_few_fields(f: fake_tlc.MonthFile, server: FixtureServer) -> str:
    lines = _lines(f)
    lines[BAD_LINE - 1] = lines[BAD_LINE - 1].rsplit(",", 1)[0]
    _write(f, lines)
    return f'{f.path.name}, line {BAD_LINE}: missing data for column "congestion_surcharge"'


def text_in_fare_amount(f: fake_tlc.MonthFile, server: FixtureServer) -> str:
    lines = _lines(f)
    _set_field(lines, BAD_LINE, "fare_amount", "12abc")
    _write(f, lines)
    return (
        f'{f.path.name}, line {BAD_LINE}, column fare_amount: "12abc": '
        'invalid input syntax for type double precision: "12abc"'
    )


def bad_timestamp(f: fake_tlc.MonthFile, server: FixtureServer) -> str:
    lines = _lines(f)
    _set_field(lines, BAD_LINE, "lpep_dropoff_datetime", "2019-06-31 10:00:00")
    _write(f, lines)
    return (
        f'{f.path.name}, line {BAD_LINE}, column lpep_dropoff_datetime: "2019-06-31 10:00:00": '
        'date/time field value out of range: "2019-06-31 10:00:00"'
    )


def unparseable_timestamp(f: fake_tlc.MonthFile, server: FixtureServer) -> str:
    lines = _lines(f)
    _set_field(lines, BAD_LINE, "lpep_pickup_datetime", "yesterday noon")
    _write(f, lines)
    return (
        f'{f.path.name}, line {BAD_LINE}, column lpep_pickup_datetime: "yesterday noon": '
        'invalid input syntax for type timestamp: "yesterday noon"'
    )


def _header(f: fake_tlc.MonthFile, header: str) -> None:
    lines = _lines(f)
    lines[0] = header
    _write(f, lines)


def renamed_column(f: fake_tlc.MonthFile, server: FixtureServer) -> str:
    _header(f, GREEN.header.replace("fare_amount", "fare"))
    return f"{f.path.name}: columns do not match the green spec: missing ['fare_amount']; unexpected ['fare']"


def missing_column(f: fake_tlc.MonthFile, server: FixtureServer) -> str:
    _header(f, GREEN.header.replace(",fare_amount", ""))
    return f"{f.path.name}: columns do not match the green spec: missing ['fare_amount']"


def extra_column(f: fake_tlc.MonthFile, server: FixtureServer) -> str:
    _header(f, GREEN.header + ",airport_fee")
    return f"{f.path.name}: columns do not match the green spec: unexpected ['airport_fee']"


def html_page(f: fake_tlc.MonthFile, server: FixtureServer) -> str:
    server.add_faults(f.url_path, Fault.html(), method="GET")
    return (
        f"green 2019-06: {server.url(f.url_path)} returned an HTML page "
        "(text/html; charset=utf-8), not a gzip file"
    )


@HANG_LIMIT
@pytest.mark.parametrize(
    "break_file",
    [
        cut_last_line,
        html_page,
        renamed_column,
        missing_column,
        extra_column,
        too_many_fields,
        too_few_fields,
        text_in_fare_amount,
        bad_timestamp,
        unparseable_timestamp,
    ],
)
def test_bad_file_fails_at_once_naming_file_line_and_column(db, clean_server, monkeypatch, capfd, break_file):
    retry_env(monkeypatch)  # available, and must not be used: retrying reads the same bad bytes
    month_file = fake_tlc.write_month(clean_server.root, GREEN, *BAD_MONTH, ROWS, seed=24)
    expected = break_file(month_file, clean_server)
    before = table_fingerprint(db, "green")

    run = run_month("green", *BAD_MONTH)

    states = task_states(run)
    assert str(run.state) == "failed"
    assert states["load_staging"] == "failed" and states["hash_merge"] == "upstream_failed", states
    assert try_number(run, "load_staging") == 1
    assert clean_server.count(month_file.url_path, method="GET") == 1
    out = capfd.readouterr().out
    assert expected in out
    assert "AirflowFailException" in out
    assert table_fingerprint(db, "green") == before
    assert rows_per_file(db, "green")[GREEN.filename(*PRELOADED)] == ROWS
    assert GREEN.filename(*BAD_MONTH) not in rows_per_file(db, "green")
    assert staging_tables(db) == []
    # The second COPY stream's connection is opened in the background as the load starts; a
    # failure before it is used (a bad header, an HTML page) must close it too.
    assert other_sessions(db) == []


def other_sessions(db) -> list[tuple]:
    """Client backends connected to this module's database besides ``db`` itself (an autovacuum
    worker analyzing the new partition is Postgres's own, not a connection the load left open)."""
    return db.execute("SELECT pid, state, left(query, 60) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND pid <> pg_backend_pid() AND backend_type = 'client backend'").fetchall()


@HANG_LIMIT
def test_bad_value_deep_in_a_larger_file_is_reported_at_the_files_own_line(db, clean_server, capfd):
    """12,000 rows arrive over HTTP in many pieces (and, with several COPY streams, are dealt out
    between connections): the line named is still the file's, not a piece's or a stream's."""
    month_file = fake_tlc.write_month(clean_server.root, GREEN, *BAD_MONTH, 12_000, seed=25)
    lines = _lines(month_file)
    _set_field(lines, 11_001, "fare_amount", "n/a")
    _write(month_file, lines)
    before = table_fingerprint(db, "green")

    run = run_month("green", *BAD_MONTH)

    assert str(run.state) == "failed"
    assert task_states(run)["load_staging"] == "failed"
    assert (
        f'{month_file.path.name}, line 11001, column fare_amount: "n/a": '
        'invalid input syntax for type double precision: "n/a"'
    ) in capfd.readouterr().out
    assert table_fingerprint(db, "green") == before
    assert staging_tables(db) == []


# --- a source override that can never work --------------------------------------------------------


@pytest.mark.parametrize(
    "source,expected",
    [
        (
            "ftp://127.0.0.1/nyc-tlc",
            "ny_taxi_source: unsupported scheme 'ftp' in 'ftp://127.0.0.1/nyc-tlc'; "
            "use dtc, tlc, https://, http://, file:// or a directory",
        ),
        ("{tmp}/no-such-mirror", "ny_taxi_source: directory {tmp}/no-such-mirror does not exist"),
        ("file://{tmp}/no-such-mirror", "ny_taxi_source: directory {tmp}/no-such-mirror does not exist"),
    ],
    ids=["ftp-url", "missing-directory", "missing-file-url"],
)
def test_unusable_source_fails_in_wait_for_file_before_any_sql(
    pg_server, airflow_db, clean_server, monkeypatch, capfd, tmp_path: Path, source, expected
):
    """A fresh database: the failed run must not even create the tables or the staging schema."""
    import psycopg

    name = pg_server.create_database()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_NY_TAXI_POSTGRES", pg_server.uri(name))
        monkeypatch.setenv("AIRFLOW_VAR_NY_TAXI_SOURCE", source.format(tmp=tmp_path))
        run = run_month("green", 2019, 7)
        states = task_states(run)
        assert str(run.state) == "failed"
        assert states["wait_for_file"] == "failed"
        assert all(state == "upstream_failed" for task, state in states.items() if task != "wait_for_file"), states
        assert try_number(run, "wait_for_file") == 1
        assert expected.format(tmp=tmp_path) in capfd.readouterr().out
        with psycopg.connect(pg_server.uri(name), autocommit=True) as conn:
            assert not table_exists(conn, "public.green_tripdata")
            assert conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'taxi_staging'"
            ).fetchone()[0] == 0
        assert clean_server.requests == []
    finally:
        pg_server.run("dropdb", name)
