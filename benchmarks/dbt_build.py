"""Case 9 (``dbt``): the incremental build of one month against a full rebuild, on a table of >= 10M rows.

One generated green month is loaded by our path; its partition is then copied under other months'
filenames (ids re-hashed with the filename, an audit row each) until the raw table holds
``DBT_FILES`` files (default 10 x ``DBT_ROWS`` = 1M). Then, taking turns ``REPS`` times:

* full: ``dbt run --full-refresh`` of fact_trips and dm_monthly_zone_revenue (every row);
* incremental: one more file is added and ``dbt run`` of the same models with the var
  ``filenames`` naming it, as the Asset-triggered DAG does.

The incremental build is also timed with the table at half its size: its time must not grow with
the table. Times are dbt's own per-model ``execution_time`` (run_results.json) summed, plus the
wall time of the dbt command (which includes dbt's ~8 s start-up).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from benchmarks.common import ROOT, WORK, Samples, say
from taxi_pipeline.audit import AUDIT_COLUMNS

PROJECT = ROOT / "dbt" / "taxi_rides_ny"
DBT = ROOT / ".venv-dbt" / "bin" / "dbt"
MODELS = ("fact_trips", "dm_monthly_zone_revenue")
DATABASE = "bench_dbt"


def _dbt(server, *args: str) -> tuple[float, float]:
    """(model seconds, wall seconds) of one dbt command on the bench database."""
    target = WORK / "dbt-target"
    env = {**os.environ, "DBT_PROFILES_DIR": str(PROJECT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "NY_TAXI_PG_PORT": str(server.port), "NY_TAXI_PG_DB": DATABASE}
    started = time.perf_counter()
    done = subprocess.run([str(DBT), *args, "--target-path", str(target), "--log-path", str(WORK / "dbt-logs")],
                          cwd=PROJECT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{done.stdout[-3000:]}")
    results = json.loads((target / "run_results.json").read_text())["results"]
    return sum(r["execution_time"] for r in results), wall


def _copy_file(server, source_filename: str, filename: str) -> None:
    """The source file's rows and audit row again, as another month's file (its own partition)."""
    partition = filename.removesuffix(".csv").replace("-", "_")
    with server.connect(DATABASE) as conn:
        conn.execute(f"""
        CREATE TABLE public.{partition} (LIKE public.green_tripdata);
        INSERT INTO public.{partition} SELECT * FROM public.green_tripdata WHERE filename = '{source_filename}';
        UPDATE public.{partition} SET filename = '{filename}', unique_row_id = md5(unique_row_id || '{filename}');
        ALTER TABLE public.green_tripdata ATTACH PARTITION public.{partition} FOR VALUES IN ('{filename}');
        INSERT INTO ny_taxi_audit.loads ({_AUDIT}) SELECT {_AUDIT_COPY} FROM ny_taxi_audit.loads
            WHERE filename = '{source_filename}' ORDER BY load_id LIMIT 1;
            ANALYZE public.{partition};
        """.replace("{filename}", filename))


# The audit row of the copy: the source file's, as another file that finished loading now.
_AUDIT = ", ".join(c.name for c in AUDIT_COLUMNS)
_AUDIT_COPY = ", ".join({"filename": "'{filename}'", "finished_at": "clock_timestamp()"}.get(c.name, c.name)
                        for c in AUDIT_COLUMNS)


def dbt_case(server, month, reps: int) -> dict:
    from tests.support.load_paths import Ours

    files = int(os.environ.get("DBT_FILES") or 10)
    ours = Ours(server, DATABASE)
    ours.reset()
    ours.load(month)
    rows = int(server.scalar(DATABASE, "SELECT count(*) FROM public.green_tripdata"))
    names = iter(f"green_tripdata_{2000 + i // 12}-{i % 12 + 1:02d}.csv" for i in range(1000))
    half = files // 2
    for _ in range(half - 1):
        _copy_file(server, month.filename, next(names))
    say(f"dbt: raw table at {half * rows:,} rows; first build")
    _dbt(server, "build", "--full-refresh")  # seeds, views, tables; every test passes on the copies too
    samples = {"incremental, half the table": Samples(), "incremental, full table": Samples(), "full rebuild": Samples()}
    walls = {name: Samples() for name in samples}

    def incremental(name: str) -> float:
        added = next(names)
        _copy_file(server, month.filename, added)
        seconds, wall = _dbt(server, "run", "--select", *MODELS, "--vars", f"{{filenames: {added}}}")
        samples[name].add(seconds)
        walls[name].add(wall)
        return seconds

    for rep in range(reps):
        say(f"dbt rep {rep + 1}: incremental at half size {incremental('incremental, half the table'):.2f} s")
    while int(server.scalar(DATABASE, "SELECT count(DISTINCT filename) FROM public.green_tripdata")) < files:
        _copy_file(server, month.filename, next(names))
    _dbt(server, "run", "--select", *MODELS)  # the models catch up with the copies (untimed)
    size = int(server.scalar(DATABASE, "SELECT count(*) FROM public.green_tripdata"))
    say(f"dbt: raw table at {size:,} rows")
    for rep in range(reps):
        seconds = incremental("incremental, full table")
        full, full_wall = _dbt(server, "run", "--select", *MODELS, "--full-refresh")
        samples["full rebuild"].add(full)
        walls["full rebuild"].add(full_wall)
        say(f"dbt rep {rep + 1}: incremental {seconds:.2f} s, full rebuild {full:.2f} s")
    fact_rows = int(server.scalar(DATABASE, "SELECT count(*) FROM analytics.fact_trips"))
    return {"samples": samples, "walls": walls, "month_rows": rows, "fact_rows": fact_rows,
            "half_rows": (half + reps) * rows, "table_rows": size}
