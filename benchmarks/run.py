"""`make bench`: start a Postgres of its own, run the cases, write RESULTS.md, results.png, results.json.

Settings (``make bench VAR=...`` or the environment):

| variable | default | meaning |
| --- | --- | --- |
| ``ROWS`` | 1000000 | rows of the generated month of cases 1-2 (green 2019-01) |
| ``DATA`` | (generated) | a mirror ``<dir>/<taxi>/<taxi>_tripdata_YYYY-MM.csv.gz``: case 1 loads every file there |
| ``REPS`` | 5 | repetitions of cases 1 (the ROWS month), 2 and 4 |
| ``SMALL_REPS`` | 3 | repetitions of case 1's second data set, ten small months (BACKFILL_MONTHS x BACKFILL_ROWS); 0 skips it |
| ``GROWTH`` | 10x1000000 | the tables of case 2: ``<months>x<rows per month>``, comma-separated (e.g. ``10x1000000,50x1000000,200x250000``) |
| ``GROWTH_COURSE_REPS`` | 2 | repetitions of the course's SQL in case 2 (each a full-table MERGE); 0 skips it |
| ``MEMORY_ROWS`` | 7000000 | rows of the generated month of case 3 (yellow 2019-01) |
| ``BACKFILL_MONTHS`` / ``BACKFILL_ROWS`` | 10 / 90000 | case 5's months and rows per month |
| ``BACKFILL_TAXI`` | green | case 5's type: green, or yellow (its wider rows) |
| ``BACKFILL_RUNS`` | 1,2,4 | case 5's ``max_active_runs`` settings, one catchup each |
| ``YEAR_MONTHS`` / ``YEAR_ROWS`` | 12 / 90000 | case 13: green months caught up as csv.gz and as parquet, at max_active_runs 2 |
| ``DAGPROC_RUNS`` | 12 | parse loops of the dag-processor per variant in case 6 |
| ``PARQUET_MEMORY_ROWS`` | 20000000 | rows of case 7's generated fhvhv parquet month (peak RSS) |
| ``PANDAS_CHUNKS`` | 3 | case 10: chunks of 100,000 rows the pandas loader is timed over (0: the whole month) |
| ``CASES`` | main,growth,memory,parse,dagproc,backfill,year,parquet,quality,dbt,pandas,page | which cases run; ``scale`` (case 11, a year of yellow at real size: about 45 min and 25 GB of disk) runs only when named |
| ``SCALE_DIVISOR`` | 1 | case 11: every month's rows divided by this (100: the whole case in minutes) |
| ``DBT_FILES`` | 10 | case dbt: files of ``ROWS`` rows in the raw table (10 x 1M: >= 10M rows) |
| ``OUT`` | benchmarks/ | where RESULTS.md, results.png and results.json go |
| ``BENCH_WORK`` | benchmarks/.work | generated files, the server's data, Airflow homes (two runs at once need two) |
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cases, report  # noqa: E402
from benchmarks.common import BENCH_DIR, WORK, BenchPostgres, Samples, free_port, say  # noqa: E402
from benchmarks.data import generated, mirror, month_range  # noqa: E402
from taxi_pipeline.months import Month  # noqa: E402

ALL_CASES = ("main", "growth", "memory", "parse", "dagproc", "backfill", "year", "parquet", "quality", "dbt", "pandas",
             "page")
OPT_IN_CASES = ("scale",)  # only when CASES names them: they take most of an hour and tens of GB


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise SystemExit(f"{name}: expected a non-negative integer, got {raw!r}")
    return int(raw)


def _ints(name: str, default: list[int]) -> list[int]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    parts = [p.strip() for p in raw.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SystemExit(f"{name}: expected positive integers separated by commas, e.g. 1,2,4, got {raw!r}")
    return [int(p) for p in parts]


def _taxi(name: str) -> str:
    raw = os.environ.get(name, "").strip() or "green"
    if raw not in ("green", "yellow"):
        raise SystemExit(f"{name}: expected green or yellow (the types the generator writes), got {raw!r}")
    return raw


def _growth_tables() -> list[tuple[int, int]]:
    if os.environ.get("GROWTH_ROWS", "").strip():  # the old knob: one total, no month count
        raise SystemExit("GROWTH_ROWS is no longer read: set GROWTH=<months>x<rows per month>, "
                         "e.g. GROWTH=50x1000000 for 50M rows in 50 months")
    raw = os.environ.get("GROWTH", "").strip() or "10x1000000"
    try:
        tables = [tuple(int(n) for n in part.strip().split("x")) for part in raw.split(",") if part.strip()]
        assert tables and all(len(t) == 2 and t[0] > 0 and t[1] > 0 for t in tables)
    except (ValueError, AssertionError):
        raise SystemExit(f"GROWTH: expected <months>x<rows per month>[,...], e.g. 50x1000000, got {raw!r}") from None
    return tables


def _machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    import subprocess

    import airflow
    import psycopg

    commit = subprocess.run(["git", "-C", str(BENCH_DIR), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"

    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": mem_kb / 2**20,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "airflow": airflow.__version__, "commit": commit, "psycopg": psycopg.__version__, "load_before": os.getloadavg()[0]}


def _json_default(value):
    if isinstance(value, Samples):
        return value.values
    if isinstance(value, cases.PhaseResult):
        return value.samples
    raise TypeError(type(value))


def main() -> int:
    rows, reps = _int("ROWS", 1_000_000), _int("REPS", 5)
    selected = [c.strip() for c in (os.environ.get("CASES") or ",".join(ALL_CASES)).split(",") if c.strip()]
    unknown = set(selected) - set(ALL_CASES) - set(OPT_IN_CASES)
    if unknown:
        raise SystemExit(f"CASES: unknown {sorted(unknown)}; choose from {', '.join(ALL_CASES + OPT_IN_CASES)}")
    out_dir = Path(os.environ.get("OUT") or BENCH_DIR).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    data = os.environ.get("DATA", "").strip()
    started = time.monotonic()
    info = {**_machine(), "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "command": "make bench" + "".join(f" {k}={os.environ[k]}" for k in
                                              ("ROWS", "DATA", "REPS", "CASES", "GROWTH", "MEMORY_ROWS", "PANDAS_CHUNKS",
                                               "BACKFILL_MONTHS", "BACKFILL_ROWS", "BACKFILL_TAXI", "BACKFILL_RUNS", "YEAR_MONTHS", "YEAR_ROWS", "SCALE_DIVISOR")
                                              if os.environ.get(k))}
    server = BenchPostgres(WORK / "pg", free_port())
    say(f"starting the benchmark's Postgres ({server.pg_dir}, port {server.port})")
    server.start()
    results: dict = {}
    try:
        info["postgres"] = server.scalar("postgres", "SHOW server_version")
        # the generated month most cases load (cached); the scale case brings its own year
        default_month = generated("green", [Month(2019, 1)], rows) if set(selected) - {"scale"} else []
        small_months, small_rows = _int("BACKFILL_MONTHS", 10), _int("BACKFILL_ROWS", 90_000)
        if "scale" in selected:
            from benchmarks.scale import scale_case

            say("case 11: a year of yellow at 2019's real sizes, into one table")
            results["scale"] = scale_case(server, max(_int("SCALE_DIVISOR", 1), 1))
        if "main" in selected:
            from taxi_pipeline.settings import Settings

            if data:
                found = mirror(Path(data))
                datasets = [(f"Files from `DATA={data}`: {len(found)} months ({', '.join(m.label for m in found)})",
                             found, reps)]
            else:
                datasets = [(f"One generated month (green 2019-01, {rows:,} rows)", default_month, reps)]
                if _int("SMALL_REPS", 3):
                    small = generated("green", month_range(Month(2019, 1), small_months), small_rows, root=WORK / "data-small")
                    size = ", about a real green 2020 month" if small_rows == 90_000 else ""
                    datasets.append((f"{small_months} small generated months (green 2019-01..{small[-1].month}, {small_rows:,} "
                                     f"rows each{size}): the fixed costs per month weigh more", small, _int("SMALL_REPS", 3)))
            streams = Settings.from_env().copy_streams  # the deployment's setting, before the case varies it
            results["main"] = []
            for label, months, repetitions in datasets:
                say(f"case 1: first load and re-load: {label}")
                main_result = cases.main_case(server, months, repetitions)
                main_result.update(label=label, streams=streams, rows_total=sum(main_result["rows"].values()))
                results["main"].append(main_result)
        if "growth" in selected:
            say("case 2: growth")
            results["growth"] = cases.growth_case(server, default_month[0], _growth_tables(), reps,
                                                  _int("GROWTH_COURSE_REPS", 2))
        if "memory" in selected:
            say("case 3: memory")
            big = generated("yellow", [Month(2019, 1)], _int("MEMORY_ROWS", 7_000_000))
            results["memory"] = cases.memory_case(server, default_month + big)
        if "parquet" in selected:
            say("case 7: a parquet month against the same rows as csv.gz")
            results["parquet"] = cases.parquet_case(server, default_month[0], reps)
            from tests.support import fake_parquet

            big_rows = _int("PARQUET_MEMORY_ROWS", 20_000_000)
            say(f"case 7: generating a {big_rows:,}-row fhvhv parquet month for the memory case")
            root = WORK / "data-parquet-fhvhv"
            path = fake_parquet.fhvhv_large(root, Month(2023, 1), big_rows)
            from benchmarks.data import SourceMonth as _SourceMonth
            from taxi_pipeline.specs import FHVHV

            results["parquet"]["memory"] = cases.memory_case(server, [_SourceMonth(FHVHV, Month(2023, 1), path, root)])
        if "quality" in selected:
            say("case 8: check_quality's queries on a loaded month")
            results["quality"] = cases.quality_case(server, default_month[0], reps)
        if "pandas" in selected:
            say("case 10: the seeds' pandas loader against ours, on the same month")
            results["pandas"] = cases.pandas_case(server, default_month[0], reps, _int("PANDAS_CHUNKS", 3))
        if "dbt" in selected:
            from benchmarks.dbt_build import dbt_case

            say("case 9: dbt, one month's incremental build against a full rebuild")
            results["dbt"] = dbt_case(server, default_month[0], reps)
        if "page" in selected:
            from benchmarks.page import page_case

            say("case 12: the Taxi loads page at ten years x four types, in a real browser")
            results["page"] = page_case(server, reps)
        if "parse" in selected:
            say("case 4: parse time")
            results["parse"] = cases.parse_case(reps)
        if "dagproc" in selected:
            from benchmarks.dag_processor import dag_processor_case

            say("case 6: parse cost in the real dag-processor, LazyOperator vs the provider's operators")
            results["dagproc"] = dag_processor_case(_int("DAGPROC_RUNS", 12))
        scheduler_cases = [c for c in ("year", "backfill") if c in selected]  # both run the local Airflow
        if scheduler_cases:
            from benchmarks import backfill

            why_not = backfill.available()
            for case in scheduler_cases if why_not else ():
                results[f"{case}_pending"] = why_not
            if not why_not and "year" in selected:
                say("case 13: a year of green as csv.gz and as parquet, through the scheduler")
                results["year"] = backfill.year_case(server, _int("YEAR_MONTHS", 12), _int("YEAR_ROWS", 90_000))
            if not why_not and "backfill" in selected:
                say("case 5: backfill through the scheduler")
                try:
                    results["backfill"] = backfill.backfill_case(
                        server, _int("BACKFILL_MONTHS", 10), _int("BACKFILL_ROWS", 90_000), _ints("BACKFILL_RUNS", [1, 2, 4]),
                        taxi=_taxi("BACKFILL_TAXI"))
                except Exception as exc:  # the rest of the run still counts
                    say(f"backfill failed: {exc!r}")
                    results["backfill_pending"] = f"the local Airflow did not complete the backfill here: {exc!r}"
    finally:
        server.stop()
    info.update(load_after=os.getloadavg()[0], ended=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
                minutes=(time.monotonic() - started) / 60)
    results["info"] = info
    report.write(results, out_dir)
    (out_dir / "results.json").write_text(json.dumps(results, default=_json_default, indent=1, sort_keys=True))
    say(f"wrote {out_dir / 'RESULTS.md'} and results.png in {info['minutes']:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
