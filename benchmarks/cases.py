"""The benchmark's cases. Each returns plain data (seconds, bytes, counts) for report.py.

1. main: first load and re-load of the same months by the floor, our path (default streams and one
   stream) and the course's SQL, side by side, repeated; the paths take turns in a rotating order.
   run.py runs it on one big month and on ten small ones (or on the files of DATA=).
2. growth: one month into an empty table and into one already holding >= 10M rows.
3. memory: peak RSS of the process that runs our load, on a big generated month.
4. parse: DagBag fill of dags/ against a folder with one empty airflow.sdk DAG.
5. backfill: see backfill.py.
6. dagproc: see dag_processor.py.
7. parquet: the same month as csv.gz and as TLC parquet, by our path; peak RSS on a 20M-row fhvhv month.
8. quality: check_quality's queries on a loaded month: the provider's own (a scan per check) and ours.
9. dbt: one month's incremental dbt build against a full rebuild on a >= 10M-row table (dbt_build.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import steps
from benchmarks.common import BENCH_DIR, ROOT, WORK, BenchPostgres, Samples, rotated, say, timed
from benchmarks.data import SourceMonth, as_parquet, generated, month_range
from benchmarks.load_paths import AdbcIngest, Floor, Indexed, Kestra, Ours, ParquetFloor, ParquetFloorIds, PsycopgRows
from taxi_pipeline.months import Month


@dataclass
class PhaseResult:
    """Seconds per repetition for each path, summed over the months."""

    samples: dict[str, Samples] = field(default_factory=dict)

    def add(self, path: str, seconds: float) -> None:
        self.samples.setdefault(path, Samples()).add(seconds)


def _warm_up(server: BenchPostgres) -> None:
    """Import and connect once (Airflow's hook machinery costs seconds the first time only)."""
    [tiny] = generated("green", [Month(2021, 7)], 1_000, root=WORK / "data-warmup")
    for path in (Ours(server, "warmup"), Kestra(server, "warmup_kestra"), Floor(server, "warmup_floor")):
        path.reset()
        path.prepare(tiny)
        path.load(tiny)


def main_case(server: BenchPostgres, months: list[SourceMonth], reps: int) -> dict:
    """Case 1. Every repetition starts from empty tables, loads the months in order (first load),
    then loads them all again (re-load); a checkpoint precedes every timed load."""
    paths = [Floor(server, "b_floor"), Ours(server, "b_ours"), Ours(server, "b_ours_1", streams=1),
             Indexed(server, "b_indexed"), Kestra(server, "b_kestra")]
    _warm_up(server)
    first, reload, rows = PhaseResult(), PhaseResult(), {}
    step_seconds = {"first load": Counter(), "re-load": Counter()}  # ours (the default), summed over repetitions
    for rep in range(reps):
        for path in paths:
            path.reset()
        for phase, result in (("first load", first), ("re-load", reload)):
            totals = dict.fromkeys((p.name for p in paths), 0.0)
            for month in months:
                for path in rotated(paths, rep):
                    path.prepare(month)
                    server.checkpoint()
                    with steps.timing() if path is paths[1] else nullcontext() as seconds_by_step:
                        seconds, loaded = timed(lambda: path.load(month))
                    if seconds_by_step is not None:
                        step_seconds[phase].update(seconds_by_step)
                    totals[path.name] += seconds
                    expected = loaded.rows if phase == "first load" or isinstance(path, Floor) else 0
                    if loaded.inserted != expected:
                        raise AssertionError(f"{path.name} {phase} {month.label}: inserted {loaded.inserted:,}, expected {expected:,}")
                    rows[month.label] = loaded.rows
            for name, seconds in totals.items():
                result.add(name, seconds)
            say(f"rep {rep + 1}/{reps} {phase}: " + ", ".join(f"{n} {s:.2f} s" for n, s in totals.items()))
    same = _same_rows(server, [("b_ours", "public"), ("b_ours_1", "public"), ("b_indexed", "indexed"),
                               ("b_kestra", "public")], months)
    per_month = 1 / (reps * len(months))
    return {"first": first, "reload": reload, "rows": rows, "same_rows": same, "paths": [p.name for p in paths],
            "steps": {phase: {label: value * per_month for label, value in steps.rows(counter)}
                      for phase, counter in step_seconds.items()}}


def _same_rows(server: BenchPostgres, databases: list[tuple[str, str]], months: list[SourceMonth]) -> bool:
    """Whether the (database, schema)s hold the same (unique_row_id, filename) multiset: the same semantics."""
    digests = set()
    for database, schema in databases:
        parts = []
        for taxi in sorted({m.spec.taxi for m in months}):
            parts.append(server.scalar(database, f"""
                SELECT count(*) || ':' || md5(string_agg(unique_row_id || filename, ',' ORDER BY unique_row_id, filename))
                FROM {schema}.{taxi}_tripdata"""))
        digests.add(tuple(parts))
    return len(digests) == 1


def growth_case(server: BenchPostgres, month: SourceMonth, tables: list[tuple[int, int]], reps: int,
                kestra_reps: int) -> list[dict]:
    """Case 2. The month into an empty table vs into one already holding ``count`` months of
    ``per_month`` rows each (for each of ``tables``), by our design and by the simple indexed one.
    The months are real ones, loaded by our path (the month's neighbour among them: its partition
    is read for the staged rows picked up in the next month); the indexed table gets the same rows."""
    out = []
    for count, per_month in tables:
        others = generated(month.spec.taxi, month_range(month.month.next(), count), per_month,
                           root=WORK / f"data-growth-{per_month}")
        empty, big = Ours(server, "g_empty"), Ours(server, "g_big")
        indexed_empty, indexed_big = Indexed(server, "g_indexed_empty"), Indexed(server, "g_indexed_big")
        for path in (empty, big, indexed_empty, indexed_big):
            path.reset()
        say(f"growth: filling a table with {count * per_month:,} rows ({count} months of {per_month:,})")
        for other in others:
            big.load(other)
        with server.connect("g_big") as conn:
            conn.execute("VACUUM ANALYZE")
            held = conn.execute(f"SELECT count(*) FROM public.{month.spec.table}").fetchone()[0]
        say(f"growth: copying the {held:,} rows into the indexed design's table")
        indexed_big.create(month.spec, index=False)
        copy_rows(server, ("g_big", f"public.{month.spec.table}"), ("g_indexed_big", indexed_big.table(month)))
        indexed_big.create(month.spec, index=True)
        with server.connect("g_indexed_big") as conn:
            conn.execute("VACUUM ANALYZE")
        size = f"{held / 1e6:.0f}M-row table ({count} months)"
        result = PhaseResult()
        pairs = [("ours, empty table", empty), (f"ours, {size}", big),
                 ("simple, empty table", indexed_empty), (f"simple, {size}", indexed_big)]
        for rep in range(reps):
            for name, path in rotated(pairs, rep):
                path.remove(month)
                server.checkpoint()
                seconds, _ = timed(lambda: path.load(month))
                result.add(name, seconds)
            say(f"growth rep {rep + 1}/{reps}: " + ", ".join(f"{n} {s.values[-1]:.2f} s" for n, s in result.samples.items()))
        if kestra_reps and count * per_month <= 10_000_000:
            _kestra_growth(server, month, held, kestra_reps, result)
        out.append({"samples": result.samples, "held": held, "months": count, "per_month": per_month,
                    "month_rows": server.scalar("g_empty", f"SELECT count(*) FROM public.{month.spec.table}")})
    return out


def table_columns(server: BenchPostgres, database: str, table: str) -> list[str]:
    """The column names of ``schema.table`` in ``database``, in order."""
    schema, name = table.split(".")
    with server.connect(database) as conn:
        return [c for (c,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position", (schema, name)).fetchall()]


def copy_rows(server: BenchPostgres, source: tuple[str, str], target: tuple[str, str], *,
              columns: list[str] | None = None, filenames: list[str] | None = None) -> None:
    """Binary COPY of the rows of one (database, table) into another: every column, or ``columns``
    (by name, for tables of different shapes); every row, or those of ``filenames``."""
    names = ", ".join(columns) if columns else "*"
    where = " WHERE filename = ANY(%s)" if filenames is not None else ""
    with server.connect(source[0]) as out_conn, server.connect(target[0]) as in_conn:
        with out_conn.cursor().copy(f"COPY (SELECT {names} FROM {source[1]}{where}) TO STDOUT (FORMAT binary)",
                                    (filenames,) if filenames is not None else None) as out, \
                in_conn.cursor().copy(f"COPY {target[1]} {f'({names})' if columns else ''} FROM STDIN (FORMAT binary)") as into:
            for data in out:
                into.write(data)


def _kestra_growth(server: BenchPostgres, month: SourceMonth, held: int, reps: int, result: PhaseResult) -> None:
    """The course's SQL the same way: its main table filled with the same rows (copied over)."""
    empty, big = Kestra(server, "gk_empty"), Kestra(server, "gk_big")
    empty.reset()
    big.reset()
    big.load(month)  # creates the course's tables
    big.remove(month)
    say(f"growth: copying the {held:,} rows into the course's table")
    table = f"public.{month.spec.table}"  # ours has more columns than the course's: copy by its names
    copy_rows(server, ("g_big", table), ("gk_big", table), columns=table_columns(server, "gk_big", table))
    with server.connect("gk_big") as target:
        target.execute("VACUUM ANALYZE")
    for rep in range(reps):
        for name, path in rotated([("course (Kestra SQL), empty table", empty),
                                   (f"course (Kestra SQL), {held / 1e6:.0f}M-row table", big)], rep):
            path.remove(month) if path is big else path.reset()
            server.checkpoint()
            seconds, _ = timed(lambda: path.load(month))
            result.add(name, seconds)
        say(f"growth (course) rep {rep + 1}/{reps} done")


def quality_case(server: BenchPostgres, month: SourceMonth, reps: int) -> dict:
    """Case 8. The month loaded by our path, then check_quality's queries, taking turns: the
    provider's check query as SQLTableCheckOperator builds it (one scan per check), the one the task
    runs (every check reads one row of measures, made in one scan), and the measure query the task
    runs after it. The operator is the DAG's (quality.py), only its queries are timed."""
    from taxi_pipeline.quality import MonthQualityCheckOperator, month_facts
    from taxi_pipeline.settings import POSTGRES_CONN_ID

    ours = Ours(server, "bench_quality")
    ours.reset()
    run = ours.describe(month)
    loaded = ours.load(month)
    merged = {"staged_rows": loaded.rows, "skipped_rows": loaded.rows - loaded.inserted}
    operator = MonthQualityCheckOperator(task_id="check_quality", taxi=month.spec.taxi, run=run, merged=merged,
                                         table=f"public.{month.spec.table}", conn_id=POSTGRES_CONN_ID)
    hook, facts = operator.get_db_hook(), month_facts(month.spec, run, merged)
    names = {False: "the provider's query (one scan per check)", True: "ours: one row of measures"}
    result, verdicts = PhaseResult(), {}
    for rep in range(reps):
        for shared in rotated([False, True], rep):
            measure_sql = operator.prepare(facts, shared=shared)
            seconds, records = timed(lambda: hook.get_records(operator.sql))
            result.add(names[shared], seconds)
            verdicts[shared] = sorted(records)
        result.add("the measure query", timed(lambda: hook.get_first(measure_sql))[0])
        say(f"quality rep {rep + 1}/{reps}: " + ", ".join(f"{n} {s.values[-1]:.2f} s" for n, s in result.samples.items()))
    return {"samples": result.samples, "rows": loaded.rows, "checks": len(month.spec.checks),
            "same_verdicts": verdicts[False] == verdicts[True], "provider": names[False], "ours": names[True]}


def pandas_case(server: BenchPostgres, month: SourceMonth, reps: int, chunks: int) -> dict:
    """Case 10. The month by our path (whole) and by the seeds' pandas loader (``chunks`` chunks of
    100,000 rows, or all with 0), taking turns, each into an empty database; the rates compare.
    The COPY floor runs beside them: how far any loader into Postgres could get ahead of pandas."""
    from benchmarks.load_paths import Pandas

    paths = [Ours(server, "b_pd_ours"), Pandas(server, "b_pandas", chunks or None), Floor(server, "b_pd_floor")]
    _warm_up(server)
    [tiny] = generated("green", [Month(2021, 7)], 1_000, root=WORK / "data-warmup")
    warm = Pandas(server, "warmup_pandas")
    warm.reset()
    warm.load(tiny)  # pandas' and SQLAlchemy's first-use costs, untimed
    result, rows = PhaseResult(), {}
    for rep in range(reps):
        for path in rotated(paths, rep):
            path.reset()
            path.prepare(month)
            server.checkpoint()
            seconds, loaded = timed(lambda: path.load(month))
            result.add(path.name, seconds)
            rows[path.name] = loaded.rows
        say(f"pandas rep {rep + 1}/{reps}: " + ", ".join(f"{n} {s.values[-1]:.2f} s" for n, s in result.samples.items()))
    in_table = server.scalar("b_pandas", f"SELECT count(*) FROM {paths[1].table(month)}")
    if in_table != rows[paths[1].name]:
        raise AssertionError(f"pandas path: {in_table:,} rows in the table, {rows[paths[1].name]:,} read")
    return {"samples": result.samples, "rows": rows, "ours": paths[0].name, "pandas": paths[1].name,
            "floor": paths[2].name, "month": month.label}


class _ParquetAsCsv(Ours):
    """Our path with parquet batches written out as CSV (extract/parquet.py's ParquetCsvStream, the
    path before the binary COPY), for the side-by-side comparison."""

    def load(self, month: SourceMonth):
        from taxi_pipeline.extract import parquet

        parquet.PARQUET_STREAM = parquet.ParquetCsvStream
        try:
            return super().load(month)
        finally:
            parquet.PARQUET_STREAM = parquet.ParquetBinaryStream


def parquet_case(server: BenchPostgres, month: SourceMonth, reps: int) -> dict:
    """Case 7. The same month as csv.gz and as the TLC's parquet (tests/support/fake_parquet.py: the
    same trips, typed as the TLC writes them), loaded by our path into two databases, taking turns
    with the path it replaced, the binary COPY floor without and with our ids, and issue 27's other
    encoders for our load's COPY (ADBC's ingest, psycopg's write_row), each into its own database.
    Every parquet path checks it wrote the file's rows; ours and the candidates must hold the same
    (unique_row_id, filename) rows."""
    parquet_month = as_parquet(month, WORK / "data-parquet")
    path = parquet_month.path
    paths = [("csv.gz", Ours(server, "p_csv"), month), ("parquet", Ours(server, "p_parquet"), parquet_month),
             ("parquet as CSV (before)", _ParquetAsCsv(server, "p_parquet_csv"), parquet_month),
             ("binary COPY floor", ParquetFloor(server, "p_floor"), parquet_month),
             *((p.name, p, parquet_month) for p in (ParquetFloorIds(server, "p_floor_ids"), AdbcIngest(server, "p_adbc"),
                                                 PsycopgRows(server, "p_psycopg")))]
    result = PhaseResult()
    for _, path_, _ in paths:
        path_.reset()
    for rep in range(reps):
        for name, load_path, source in rotated(paths, rep):
            load_path.remove(source)
            server.checkpoint()
            seconds, loaded = timed(lambda: load_path.load(source))
            result.add(name, seconds)
        say(f"parquet rep {rep + 1}/{reps}: " + ", ".join(f"{n} {s.values[-1]:.2f} s" for n, s in result.samples.items()))
    same = _same_rows(server, [("p_csv", "public"), ("p_parquet", "public"), ("p_parquet_csv", "public"),
                               ("p_adbc", AdbcIngest.schema), ("p_psycopg", PsycopgRows.schema)], [month])
    return {"samples": result.samples, "rows": server.scalar("p_csv", f"SELECT count(*) FROM public.{month.spec.table}"),
            "csv_bytes": month.path.stat().st_size, "parquet_bytes": path.stat().st_size, "same_rows": same,
            "candidates": [AdbcIngest.name, PsycopgRows.name], "streams": paths[1][1].settings.copy_streams}


def memory_case(server: BenchPostgres, months: list[SourceMonth]) -> list[dict]:
    """Case 3. Each month is loaded (ensure + load_staging + hash_merge + drop) by a fresh process
    that imports what an Airflow task process imports; it reports its own peak RSS (VmHWM)."""
    out = []
    for month in months:
        database = f"m_{month.spec.taxi}_{len(out)}"
        server.recreate(database)
        done = subprocess.run(
            [sys.executable, str(BENCH_DIR / "memory_child.py"), str(server.port), database, str(month.root),
             month.spec.taxi, str(month.month)],
            capture_output=True, text=True, timeout=3600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"memory child failed:\n{done.stdout}\n{done.stderr}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        say(f"memory {month.label}: {report['rows']:,} rows, peak RSS {report['peak_kb'] / 1024:.0f} MB "
            f"(after imports {report['baseline_kb'] / 1024:.0f} MB)")
        out.append(report)
    return out


_EMPTY_DAG = '''"""An empty DAG: the parse-time baseline."""
from airflow.sdk import DAG

with DAG(dag_id="empty", schedule=None):
    pass
'''


def parse_case(reps: int) -> dict:
    """Case 4. Fresh processes take turns filling a DagBag from dags/, from a folder holding only the
    Postgres DAG file, and from a folder with one empty DAG; the difference of the medians is what the
    bundle (and the Postgres DAGs alone) add at parse time."""
    empty_dir = Path(tempfile.mkdtemp(prefix="bench-empty-dag-"))
    (empty_dir / "empty_dag.py").write_text(_EMPTY_DAG)
    postgres_dir = Path(tempfile.mkdtemp(prefix="bench-postgres-dag-"))
    (postgres_dir / "postgres_taxi.py").write_text((ROOT / "dags" / "postgres_taxi.py").read_text())
    dbt_dir = Path(tempfile.mkdtemp(prefix="bench-dbt-dag-"))
    (dbt_dir / "dbt_taxi.py").write_text((ROOT / "dags" / "dbt_taxi.py").read_text())
    folders = [("bundle", ROOT / "dags"), ("postgres", postgres_dir), ("dbt", dbt_dir), ("empty", empty_dir)]
    samples = {name: Samples() for name, _ in folders}
    details = {}
    for rep in range(reps):
        for name, folder in rotated(folders, rep):
            done = subprocess.run([sys.executable, str(BENCH_DIR / "parse_child.py"), str(folder)],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"parse child failed:\n{done.stdout}\n{done.stderr}")
            report = json.loads(done.stdout.strip().splitlines()[-1])
            samples[name].add(report["fill_seconds"])
            details[name] = report
    baseline = set(details["empty"]["google_imported"])  # the providers manager's own, at import
    for name in details:
        details[name]["google_imported"] = sorted(set(details[name]["google_imported"]) - baseline)
    say("parse: " + ", ".join(f"{n} {s.median:.2f} s" for n, s in samples.items()))
    files = sorted(p.name for p in (ROOT / "dags").glob("*.py"))
    return {"samples": samples, "details": details, "dag_files": files}
