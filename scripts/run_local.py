"""`make run`: load months into the project-local Postgres through the real DAGs (``dag.test()``).

Each (taxi, month) becomes one Airflow DAG run of ``postgres_taxi_{taxi}`` with the logical date
its schedule gives that month, executed in-process against a project-local Airflow home
(``.airflow/``, SQLite metadata). Re-running is safe: the hash-merge inserts nothing twice.
Prints rows per file at the end.

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
sys.path[:0] = [str(ROOT / "plugins")]


HOME = ROOT / ".airflow"


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
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
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


def _run(args: argparse.Namespace, window) -> int:
    _configure_airflow(args)

    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    from taxi_pipeline.months import ParamError as WindowError
    from taxi_pipeline.settings import Settings
    from taxi_pipeline.specs import SPECS, get_spec

    taxis = list(SPECS) if args.taxi == "all" else [args.taxi]
    settings = Settings.from_env()
    initdb()  # idempotent: creates or upgrades the local metadata DB
    dags = DagBag(dag_folder=str(ROOT / "dags")).dags
    failed: list[str] = []
    for taxi in taxis:
        dag = dags[f"postgres_taxi_{taxi}"]
        try:
            published = settings.window(get_spec(taxi))
        except WindowError as exc:
            print(f"{dag.dag_id}: skipped, {exc}", flush=True)
            continue
        skipped = [m for m in window.months() if m not in published]
        if skipped:
            print(f"{dag.dag_id}: skipped {skipped[0]}..{skipped[-1]}: {settings.source} publishes {taxi} "
                  f"{published.first}..{published.last}", flush=True)
        for month in (m for m in window.months() if m in published):
            # The run the schedule would create for this month (CronTriggerTimetable: 1st, 09/10:00 UTC).
            hour = int(get_spec(taxi).schedule.split()[1])
            logical_date = datetime(month.year, month.month, 1, hour, tzinfo=timezone.utc)
            filename = get_spec(taxi).filename(month.year, month.month)
            before = dict(_rows_per_file([taxi])).get(filename, 0)
            started = time.monotonic()
            run = dag.test(logical_date=logical_date)
            seconds = time.monotonic() - started
            state = str(run.state).split(".")[-1].lower()
            after = dict(_rows_per_file([taxi])).get(filename, 0)
            print(
                f"{dag.dag_id} {month}: {state} in {seconds:.1f} s, {after - before:,} rows inserted "
                f"({after:,} in the table for {filename}, {after / seconds:,.0f} rows/s end to end)",
                flush=True,
            )
            if "success" not in state:
                failed.append(f"{taxi} {month}")

    rows = _rows_per_file(taxis)
    width = max([len(f) for f, _ in rows] + [8])
    print(f"\n{'filename':<{width}}  {'rows':>10}")
    for filename, count in rows:
        print(f"{filename:<{width}}  {count:>10,}")
    if failed:
        print(f"\nfailed: {', '.join(failed)} (see the task logs above; LOG_LEVEL=INFO shows more)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
