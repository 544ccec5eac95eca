"""`make run`: load months into the project-local Postgres through the real DAGs (``dag.test()``).

Each (taxi, month) becomes one Airflow DAG run of ``postgres_taxi_{taxi}`` with the logical date
its schedule gives that month, executed in-process against a project-local Airflow home
(``.airflow/``, or ``MAKE_RUN_AIRFLOW_HOME``; SQLite metadata). Re-running is safe: the hash-merge
inserts nothing twice. It starts Postgres (scripts/pg.sh). The terminal gets a header, one line per
month (or per failure: cause and fix), the progress of long files and the rows per file; Airflow's
logs go to ``<home>/logs/make-run-<time>.log`` (``VERBOSE=1``: the terminal); scripts/run_terminal.py.
A source that does not answer at all (DNS, refused) is found by one request up front: its months
fail at once, without their retries.

    python scripts/run_local.py --taxi all --start 2019-01 --end 2019-02 [--source dtc|tlc|DIR|URL]

``--taxi all`` is every type in specs.SPECS; each loads the months of START..END its source
publishes (the others are listed as skipped). A month the source has not published fails at once
(``NY_TAXI_PUBLISH_WAIT_DAYS`` defaults to 0 here: nobody waits weeks at a terminal).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from scripts.run_terminal import UNREACHABLE_FIX, Console, explain, postgres_not_started  # noqa: E402  (ROOT is on sys.path from here)


HOME = Path(os.environ.get("MAKE_RUN_AIRFLOW_HOME") or ROOT / ".airflow").resolve()


@contextmanager
def one_run_at_a_time(home: Path, say: Callable[[str], None] = print) -> Iterator[None]:
    """Hold ``home``'s run lock for the body; a second ``make run`` waits its turn, saying so once.

    Two runs at once would share the SQLite metadata DB of ``home`` and collide creating the same
    DAG run (``UNIQUE constraint failed: dag_run.dag_id, dag_run.logical_date``). The lock is an
    advisory ``flock``: the kernel releases it when its holder exits, killed or not.
    """
    home.mkdir(exist_ok=True)
    with (home / "make-run.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            say(f"make run: another make run ({holder}) is using {home}; waiting for it to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}, started {datetime.now().astimezone():%H:%M:%S}")
        lock.flush()
        yield


def _configure_airflow(args: argparse.Namespace) -> None:
    home = HOME
    pg_uri = subprocess.run([str(ROOT / "scripts" / "pg.sh"), "uri"], check=True, capture_output=True, text=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            # Airflow's reader of plugins/.airflowignore warns of a pathspec deprecation in every process.
            "PYTHONWARNINGS": "ignore:GitWildMatchPattern:DeprecationWarning",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # No lineage emitted; cosmos reads the namespace at import and warns when it is unset.
            "AIRFLOW__OPENLINEAGE__DISABLED": "True", "AIRFLOW__OPENLINEAGE__NAMESPACE": "ny_taxi",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("LOG_LEVEL") or "INFO",  # the log file has it all
            "AIRFLOW_CONN_NY_TAXI_POSTGRES": pg_uri.stdout.strip(),
            "NY_TAXI_START_MONTH": args.start,
            "NY_TAXI_END_MONTH": args.end,
            "NY_TAXI_RETRIES": os.environ.get("NY_TAXI_RETRIES", "1"),
            "NY_TAXI_RETRY_DELAY_SECONDS": os.environ.get("NY_TAXI_RETRY_DELAY_SECONDS", "5"),
            "NY_TAXI_PUBLISH_WAIT_DAYS": os.environ.get("NY_TAXI_PUBLISH_WAIT_DAYS", "0"),
            "NY_TAXI_SOURCE": _source(args.source),
        }
    )
    os.environ.pop("AIRFLOW_VAR_NY_TAXI_SOURCE", None)  # SOURCE decides, not a Variable left in the shell


def _source(value: str) -> str:
    """dtc, tlc, a URL, or a directory made absolute."""
    if not value or value.lower() in ("dtc", "tlc") or "://" in value:
        return value or "dtc"
    return str(Path(value).resolve())


def _rows_per_file(taxis: list[str]) -> list[tuple[str, int]]:
    import psycopg

    out: list[tuple[str, int]] = []
    with psycopg.connect(os.environ["AIRFLOW_CONN_NY_TAXI_POSTGRES"]) as conn:
        for taxi in taxis:
            exists = conn.execute("SELECT to_regclass(%s)", (f"public.{taxi}_tripdata",)).fetchone()[0]
            if exists:
                out += conn.execute(
                    f"SELECT filename, count(*) FROM public.{taxi}_tripdata GROUP BY 1 ORDER BY 1"
                ).fetchall()
    return out


def _checked_window(args: argparse.Namespace):
    """The months to load; a bad TAXI/START/END is one line naming the make variable."""
    from taxi_pipeline.months import Month, ParamError, Window
    from taxi_pipeline.specs import SPECS

    from taxi_pipeline.extract.releases import release

    if args.taxi not in (*SPECS, "all"):
        raise ParamError(f"TAXI: expected one of {', '.join([*SPECS, 'all'])}, got {args.taxi!r}")
    first, last = Month.parse(args.start, name="START"), Month.parse(args.end, name="END")
    if first > last:
        raise ParamError(f"START={first} is after END={last}")
    release(_source(args.source), setting="SOURCE")
    return Window(first, last)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taxi", default="all", help="yellow, green, fhv, fhvhv or all")
    parser.add_argument("--start", default="2019-01", help="first month, YYYY-MM")
    parser.add_argument("--end", default="2019-02", help="last month, YYYY-MM")
    parser.add_argument("--source", default="", help="dtc (default), tlc, or a mirror directory/URL in either layout")
    parser.add_argument("--check", action="store_true", help="only validate TAXI/START/END")
    args = parser.parse_args(argv)
    from taxi_pipeline.months import ParamError

    try:
        window = _checked_window(args)
    except ParamError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2
    if args.check:
        return 0
    with one_run_at_a_time(HOME, say=lambda line: print(line, flush=True)):
        return _run(args, window)


def _task_errors() -> dict[str, list[tuple[str, BaseException | str | None]]]:
    """Each run's task errors, in order, as (task_id, error), filled by an Airflow listener:
    dag.test() runs tasks in this process, so the month's line explains the exception object itself."""
    from airflow.listeners import hookimpl
    from airflow.sdk.listener import get_listener_manager

    by_run: dict[str, list[tuple[str, BaseException | str | None]]] = {}

    class TaskErrors:
        @hookimpl
        def on_task_instance_failed(self, previous_state, task_instance, error) -> None:
            by_run.setdefault(task_instance.run_id, []).append((task_instance.task_id, error))

    get_listener_manager().add_listener(TaskErrors())
    return by_run


def _where(uri: str) -> str:
    """host:port/db of a Postgres URI, without the password."""
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    return f"{parsed.hostname}:{parsed.port or 5432}{parsed.path}"


def _unreachable(chosen) -> str | None:
    """None if the source answers at all (any HTTP status); else why not ('cannot reach ... (DNS
    lookup failed)'). One request up front instead of every month failing through its retries."""
    import requests

    from taxi_pipeline.extract.errors import unreachable

    if not chosen.base.startswith(("http://", "https://")):
        return None
    try:
        requests.head(chosen.base, timeout=(10, 20), allow_redirects=False).close()
    except (requests.ConnectionError, requests.Timeout) as exc:
        return unreachable(chosen.base, exc)
    return None


def _log_path() -> Path | None:
    """The run's log file, or None when VERBOSE=1 / LOG_LEVEL asks for the logs on the terminal."""
    if os.environ.get("VERBOSE", "").strip() not in ("", "0") or os.environ.get("LOG_LEVEL"):
        return None
    return HOME / "logs" / f"make-run-{datetime.now():%Y%m%d-%H%M%S}.log"


def _run(args: argparse.Namespace, window) -> int:
    console = Console(_log_path())
    _configure_airflow(args)
    from taxi_pipeline.extract.releases import release
    from taxi_pipeline.specs import SPECS

    taxis = list(SPECS) if args.taxi == "all" else [args.taxi]
    chosen = release(os.environ["NY_TAXI_SOURCE"], setting="SOURCE")
    months = window.months()
    count = f"{len(months)} month{'s' * (len(months) != 1)}{' each' if len(taxis) > 1 else ''}"
    console.say(f"make run: {', '.join(taxis)} {_span(months)} ({count}) from {chosen.name} {chosen.base} "
                f"into postgres {_where(os.environ['AIRFLOW_CONN_NY_TAXI_POSTGRES'])}")
    if console.log_path:
        console.say(f"make run: Airflow's logs go to {console.log_path} (VERBOSE=1 shows them here)")
    if not _start_postgres(console):
        return 1
    try:
        with console.logs_to_file():
            code = _load(args, window, taxis, chosen, console)
    except _PostgresDown as exc:
        console.say(f"make run: cannot connect to postgres {_where(os.environ['AIRFLOW_CONN_NY_TAXI_POSTGRES'])}: "
                    f"{exc}; `make pg-up` starts it (its log: .pg/postgres.log)")
        code = 1
    if console.log_path:
        console.say(f"full logs: {console.log_path}")
    return code


def _start_postgres(console: Console) -> bool:
    """``scripts/pg.sh start`` (a no-op when it runs): its output goes to the log file; a failure
    is one line (port in use, initdb failed, ...)."""
    done = subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start"], capture_output=True, text=True)
    if console.log_path is not None:
        console.log_path.parent.mkdir(parents=True, exist_ok=True)
        with console.log_path.open("a") as log:
            log.write(done.stdout + done.stderr)
    else:
        print(done.stdout + done.stderr, end="", flush=True)
    if done.returncode == 0:
        return True
    pg_dir = os.environ.get("PG_DIR") or str(ROOT / ".pg")
    console.say(f"make run: {postgres_not_started(done.stdout + done.stderr, os.environ.get('PG_PORT', '54329'), pg_dir)}")
    if console.log_path:
        console.say(f"full logs: {console.log_path}")
    return False


class _PostgresDown(Exception):
    """The taxi database cannot be reached (before or between months)."""


def _rows_or_down(taxis: list[str]) -> list[tuple[str, int]]:
    import psycopg

    try:
        return _rows_per_file(taxis)
    except psycopg.OperationalError as exc:
        raise _PostgresDown(str(exc).strip().splitlines()[0]) from exc


def _month_facts(dag_id: str, run_id: str) -> tuple[int, int, int] | None:
    """(rows in the file, inserted, skipped) from the run's audit row, if its merge wrote one."""
    import psycopg

    with psycopg.connect(os.environ["AIRFLOW_CONN_NY_TAXI_POSTGRES"]) as conn:
        if not conn.execute("SELECT to_regclass('ny_taxi_audit.loads')").fetchone()[0]:
            return None
        return conn.execute(
            "SELECT rows_in_file, inserted_rows, skipped_rows FROM ny_taxi_audit.loads"
            " WHERE dag_id = %s AND run_id = %s ORDER BY load_id DESC LIMIT 1", (dag_id, run_id)
        ).fetchone()


def _span(months: list) -> str:
    """'2019-01' or '2019-01..2019-06'."""
    return f"{months[0]}" if months[0] == months[-1] else f"{months[0]}..{months[-1]}"


def _load(args: argparse.Namespace, window, taxis: list[str], chosen, console: Console) -> int:
    _rows_or_down(taxis)  # Postgres answers, or one line says it does not
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    from taxi_pipeline.months import ParamError as WindowError
    from taxi_pipeline.settings import Settings
    from taxi_pipeline.specs import get_spec

    settings = Settings.from_env()
    down = _unreachable(chosen)  # before initdb and the DagBag: an unreachable source costs seconds
    initdb()  # idempotent: creates or upgrades the local metadata DB
    dags = DagBag(dag_folder=str(ROOT / "dags")).dags
    errors = _task_errors()
    console.show_progress()
    failed: list[str] = []
    for taxi in taxis:
        dag = dags[f"postgres_taxi_{taxi}"]
        try:
            published = settings.window(get_spec(taxi))
        except WindowError as exc:
            console.say(f"{taxi}: skipped, {exc}")
            continue
        skipped = [m for m in window.months() if m not in published]
        if skipped:
            first, last = chosen.published(get_spec(taxi))  # the source's span, not the window's
            console.say(f"{taxi} {_span(skipped)}: skipped, {chosen.name} publishes {taxi} {first}..{last or 'now'}")
        todo = [m for m in window.months() if m in published]
        if todo and down:
            console.say(f"{taxi} {_span(todo)}: not loaded: {down}; {UNREACHABLE_FIX}")
            failed += [f"{taxi} {m}" for m in todo]
            continue
        for month in todo:
            # The run the schedule would create for this month (CronTriggerTimetable: 1st, 09/10:00 UTC).
            hour = int(get_spec(taxi).schedule.split()[1])
            logical_date = datetime(month.year, month.month, 1, hour, tzinfo=timezone.utc)
            started = time.monotonic()
            run = dag.test(logical_date=logical_date)
            seconds = time.monotonic() - started
            label = f"{taxi} {month}"
            facts = _month_facts(dag.dag_id, run.run_id)
            loaded = (f"{facts[0]:,} rows in the file, {facts[1]:,} inserted, {facts[2]:,} skipped (already there), "
                      f"{seconds:.1f} s, {facts[0] / seconds:,.0f} rows/s") if facts else f"{seconds:.1f} s"
            if "success" in str(run.state):
                console.say(f"{label}: {loaded}")
                continue
            failed.append(label)
            task_id, error = (errors.get(run.run_id) or [("?", None)])[-1]
            text, _expected = explain(label, task_id, error)
            console.say(text)

    rows = _rows_or_down(taxis)
    if rows:
        width = max([len(f) for f, _ in rows] + [8])
        console.say(f"\n{'filename':<{width}}  {'rows':>10}")
        for filename, count in rows:
            console.say(f"{filename:<{width}}  {count:>10,}")
    else:
        console.say(f"\nno rows in {', '.join(f'public.{t}_tripdata' for t in taxis)} yet")
    if failed:
        console.say(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
