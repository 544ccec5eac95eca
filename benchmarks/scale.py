"""Case 11, ``make bench CASES=scale``: a year of yellow at 2019's real sizes, into one table.

Twelve generated yellow months with the TLC's 2019 monthly row counts (84,598,444 rows; the csv
backup's year holds 84,399,019) are loaded in order into one database, each by a fresh process
that imports what an Airflow task process imports and runs the DAG's steps (memory_child.py): the
seconds and peak RSS of every month, then the table's size on disk, the staging tables and WAL
left behind, then the same twelve months again (a re-load: nothing is inserted).

For contrast the course's Kestra SQL loads month 1 into an empty table and month 6 into a table
holding months 1-5 (its own month 1 plus months 2-5 copied from ours). Month 6, not 12: the
course's MERGE has no index and the copy of eleven months would need another ~20 GB of disk on
a machine where the year itself takes most of what is free; month 6 already shows the growth.

``SCALE_DIVISOR`` (default 1) divides every month's rows: ``SCALE_DIVISOR=100`` runs the whole
case in a minute, to try it. Before anything is generated or loaded, free disk under BENCH_WORK is
checked against an estimate (bytes per row measured on a 100,000-row sample load) and the case
stops with a message naming what it needs when it is short.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.cases import copy_rows, table_columns
from benchmarks.common import BENCH_DIR, WORK, BenchPostgres, say, timed
from benchmarks.data import generated
from benchmarks.load_paths import Kestra, Ours
from taxi_pipeline.months import Month
from taxi_pipeline.settings import STAGING_SCHEMA

# The TLC's published row counts of yellow 2019, January to December.
YELLOW_2019_ROWS = (7_696_617, 7_049_370, 7_866_620, 7_475_949, 7_598_445, 6_971_560,
                    6_310_419, 6_073_357, 6_567_788, 7_213_891, 6_878_111, 6_896_317)
KESTRA_MONTHS = (1, 6)
GZ_BYTES_PER_ROW = 40  # the generator's yellow csv.gz is ~35 bytes a row (10.5 MB per 300,000)
DATABASE, KESTRA_DATABASE = "scale", "scale_kestra"
DATA_ROOT = WORK / "data-scale"


def _months(divisor: int) -> list[tuple[Month, int]]:
    return [(Month(2019, n), max(rows // divisor, 1)) for n, rows in enumerate(YELLOW_2019_ROWS, 1)]


def _table_bytes(server: BenchPostgres, database: str, table: str) -> tuple[int, int]:
    """(heap + TOAST, indexes) summed over the partition tree of ``table``."""
    with server.connect(database) as conn:
        return conn.execute(
            "SELECT coalesce(sum(pg_table_size(relid)), 0)::bigint, coalesce(sum(pg_indexes_size(relid)), 0)::bigint "
            "FROM pg_partition_tree(%s::regclass)", (table,)).fetchone()


def _bytes_per_row(server: BenchPostgres) -> float:
    """Table and index bytes per row of a 100,000-row yellow month loaded by our path."""
    [sample] = generated("yellow", [Month(2019, 1)], 100_000, root=WORK / "data-scale-sample")
    path = Ours(server, "scale_sample")
    path.reset()
    loaded = path.load(sample)
    heap, index = _table_bytes(server, "scale_sample", "public.yellow_tripdata")
    server.run("dropdb", "scale_sample")
    return (heap + index) / loaded.rows


def check_disk(server: BenchPostgres, months: list[tuple[Month, int]], work: Path = WORK) -> dict:
    """Stop (SystemExit) unless the free disk under ``work`` covers the estimate, with 20% to spare."""
    rows = sum(n for _, n in months)
    per_row = _bytes_per_row(server)
    kestra_rows = sum(n for m, n in months if m.month <= max(KESTRA_MONTHS))
    missing_gz = sum(n for m, n in months if not (DATA_ROOT / "yellow" / f"yellow_tripdata_{m}.csv.gz").exists())
    need = per_row * (rows + kestra_rows) + GZ_BYTES_PER_ROW * missing_gz
    free = shutil.disk_usage(work).free
    estimate = {"rows": rows, "bytes_per_row": per_row, "need_bytes": need, "free_bytes": free}
    say(f"scale: {rows:,} rows at {per_row:.0f} bytes a row (table + index, measured on a sample), plus the "
        f"course's copy and the files to generate: about {need / 1e9:.1f} GB; {free / 1e9:.1f} GB free under {work}")
    if free < need * 1.2:
        raise SystemExit(
            f"scale: not enough disk under {work}: the year needs about {need / 1e9:.1f} GB "
            f"(+20% margin: {need * 1.2 / 1e9:.1f} GB) and {free / 1e9:.1f} GB is free. Free space there, point "
            "BENCH_WORK at a bigger disk, or shrink the months with SCALE_DIVISOR (e.g. SCALE_DIVISOR=10).")
    return estimate


def _load_in_child(server: BenchPostgres, month: Month) -> dict:
    """One month by a fresh task-like process (memory_child.py) into the scale database."""
    server.checkpoint()
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "memory_child.py"), str(server.port), DATABASE, str(DATA_ROOT),
         "yellow", str(month)], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"scale: loading yellow {month} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _leftovers(server: BenchPostgres) -> dict:
    """Staging tables left in the staging schema, and the WAL on disk after a checkpoint."""
    server.checkpoint()
    with server.connect(DATABASE) as conn:
        staging = [name for (name,) in conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'u')", (STAGING_SCHEMA,)).fetchall()]
        wal = conn.execute("SELECT coalesce(sum(size), 0)::bigint FROM pg_ls_waldir()").fetchone()[0]
        max_wal = conn.execute("SELECT setting::bigint * 1024 * 1024 FROM pg_settings WHERE name = 'max_wal_size'").fetchone()[0]
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return {"staging_tables": staging, "wal_bytes": wal, "max_wal_bytes": max_wal, "database_bytes": database}


def _copy_months(server: BenchPostgres, filenames: list[str]) -> None:
    """These files' rows from our table into the course's, by the course's columns (ours has more:
    see include/sql/postgres/create_tables.sql)."""
    table = "public.yellow_tripdata"
    copy_rows(server, (DATABASE, table), (KESTRA_DATABASE, table),
              columns=table_columns(server, KESTRA_DATABASE, table), filenames=filenames)


def _kestra(server: BenchPostgres, files: dict[Month, object]) -> dict:
    """The course's SQL: month 1 into its empty table, then month 6 into its table holding 1-5."""
    first, later = (Month(2019, n) for n in KESTRA_MONTHS)
    path = Kestra(server, KESTRA_DATABASE)
    path.reset()
    server.checkpoint()
    first_s, first_loaded = timed(lambda: path.load(files[first]))
    say(f"scale, course's SQL: {first} into an empty table: {first_s:.1f} s ({first_loaded.rows:,} rows)")
    between = [str(files[Month(2019, n)].filename) for n in range(first.month + 1, later.month)]
    say(f"scale, course's SQL: copying months {first.month + 1}-{later.month - 1} from our table into its table")
    _copy_months(server, between)
    with server.connect(KESTRA_DATABASE) as conn:
        conn.execute("VACUUM ANALYZE public.yellow_tripdata")
        held = conn.execute("SELECT count(*) FROM public.yellow_tripdata").fetchone()[0]
    server.checkpoint()
    later_s, later_loaded = timed(lambda: path.load(files[later]))
    say(f"scale, course's SQL: {later} into its {held:,}-row table: {later_s:.1f} s")
    server.run("dropdb", KESTRA_DATABASE)  # its disk is needed no longer
    return {"first": {"month": str(first), "rows": first_loaded.rows, "seconds": first_s, "held": 0},
            "later": {"month": str(later), "rows": later_loaded.rows, "seconds": later_s, "held": held}}


def scale_case(server: BenchPostgres, divisor: int = 1) -> dict:
    months = _months(divisor)
    estimate = check_disk(server, months)
    files = {}
    for month, rows in months:
        [files[month]] = generated("yellow", [month], rows, root=DATA_ROOT)
    server.recreate(DATABASE)
    first, reload = [], []
    for phase, out in (("first load", first), ("re-load", reload)):
        for month, rows in months:
            report = _load_in_child(server, month)
            expected = report["rows"] if phase == "first load" else 0
            if report["inserted"] != expected:
                raise AssertionError(f"scale {phase} {month}: inserted {report['inserted']:,}, expected {expected:,}")
            out.append({"month": str(month), **report})
            say(f"scale {phase} {month}: {report['rows']:,} rows in {report['seconds']:.1f} s "
                f"({report['rows'] / report['seconds']:,.0f} rows/s), {report['inserted']:,} inserted, "
                f"peak RSS {report['peak_kb'] / 1024:.0f} MB")
        if phase == "first load":
            heap, index = _table_bytes(server, DATABASE, "public.yellow_tripdata")
            left = _leftovers(server)
            with server.connect(DATABASE) as conn:
                held = conn.execute("SELECT count(*) FROM public.yellow_tripdata").fetchone()[0]
            say(f"scale: {held:,} rows; table {heap / 1e9:.2f} GB, indexes {index / 1e9:.2f} GB; staging left "
                f"{left['staging_tables'] or 'none'}; WAL on disk {left['wal_bytes'] / 1e6:.0f} MB")
    kestra = _kestra(server, files)
    return {"divisor": divisor, "estimate": estimate, "first": first, "reload": reload, "held": held,
            "table_bytes": heap, "index_bytes": index, **left, "kestra": kestra}
