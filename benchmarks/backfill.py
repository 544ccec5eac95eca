"""Case 5: months through the real scheduler (the local Airflow of scripts/airflow_local.py).

For each ``max_active_runs`` setting: a fresh metadata database and taxi database on the
benchmark's Postgres, the local Airflow restarted with that setting and a window of N generated
months, ``postgres_taxi_<taxi>`` (green by default) caught up by the scheduler (LocalExecutor, one process per task),
then the runs and task instances read back from the REST API.

* wall time: first run started -> last run ended;
* load time: the union of the intervals in which a ``load_staging`` or ``hash_merge`` task ran
  (the database work; with parallel runs, overlapping loads count once);
* Airflow overhead: wall time minus load time, as a share of wall time; split into the time some
  other task ran (wait_for_file, check_quality, drop_staging, first imports) and the time no task
  ran at all (the scheduler's loop between tasks and runs).
* where a month's time goes, task by task (medians over the runs): each task's own duration, the
  scheduler's turn from its upstream's end to its ``queued_when``, and the executor's from then to
  its ``start_date`` (a worker picks it up and forks the task process).

``fmt`` picks the files' format: the generated csv.gz months, or the same trips as TLC parquet
(tests/support/fake_parquet.py) in a mirror of the TLC's layout: issue 27's year of parquet.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import datetime
from pathlib import Path

from benchmarks.common import ROOT, WORK, BenchPostgres, free_port, say
from benchmarks.data import as_parquet, generated, month_range
from taxi_pipeline.months import Month

LOAD_TASKS = ("load_staging", "hash_merge")
DBT_DAGS = ("dbt_taxi_postgres", "dbt_taxi_bigquery")


def _airflow_local():
    spec = importlib.util.spec_from_file_location("airflow_local", ROOT / "scripts" / "airflow_local.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["airflow_local"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _union_seconds(intervals: list[tuple[datetime, datetime]]) -> float:
    total, current = 0.0, None
    for start, end in sorted(intervals):
        if current and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current:
            total += (current[1] - current[0]).total_seconds()
        current = (start, end)
    if current:
        total += (current[1] - current[0]).total_seconds()
    return total


def available() -> str | None:
    """None if the local Airflow can run here, else why not."""
    if not (ROOT / "scripts" / "airflow_local.py").exists():
        return "scripts/airflow_local.py (the local Airflow of the scheduling issue) is not in this checkout"
    if not Path(sys.executable).with_name("airflow").exists():
        return "no airflow CLI in the venv"
    return None


def _turns(tis: list[dict]) -> list[dict]:
    """Each finished task of one run: its duration, and the scheduler's and the executor's turns before it.

    The scheduler's turn runs from the end of the last task that finished before this one was queued
    (its upstream, as the graph is a chain) -- or the run's start -- to ``queued_when``; the
    executor's from ``queued_when`` to ``start_date``."""
    done = sorted((t for t in tis if t["start_date"] and t["end_date"] and t["queued_when"]),
                  key=lambda t: _time(t["start_date"]))
    out = []
    for t in done:
        queued, start, end = _time(t["queued_when"]), _time(t["start_date"]), _time(t["end_date"])
        before = [_time(o["end_date"]) for o in done if o is not t and _time(o["end_date"]) <= queued]
        out.append({"task_id": t["task_id"], "duration": (end - start).total_seconds(),
                    "executor": (start - queued).total_seconds(),
                    "scheduler": (queued - max(before)).total_seconds() if before else None})
    return out


def _span(tis: list[dict]) -> tuple[datetime, datetime] | None:
    """A run's first task queued -> its last task's end (None if no task ran)."""
    done = [t for t in tis if t["queued_when"] and t["end_date"]]
    if not done:
        return None
    return min(_time(t["queued_when"]) for t in done), max(_time(t["end_date"]) for t in done)


def backfill_case(server: BenchPostgres, months: int, rows: int, settings: list[int], taxi: str = "green",
                  fmt: str = "csv.gz") -> dict:
    dag_id = f"postgres_taxi_{taxi}"
    root = WORK / ("data-small" if taxi == "green" else f"data-backfill-{taxi}")  # green: case 1 loads them too
    files = generated(taxi, month_range(Month(2019, 1), months), rows, root=root)
    if fmt == "parquet":
        files = [as_parquet(f, WORK / f"data-backfill-parquet-{taxi}") for f in files]
    source = files[0].root
    local = _airflow_local()
    out = {}
    for max_active in settings:
        tag = f"bf{max_active}{'p' if fmt == 'parquet' else ''}"
        server.recreate(f"{tag}_taxi")
        server.run("dropdb", f"{tag}_meta")
        env = {**os.environ,
               "NY_TAXI_START_MONTH": str(files[0].month), "NY_TAXI_END_MONTH": str(files[-1].month),
               "NY_TAXI_MAX_ACTIVE_RUNS": str(max_active), "NY_TAXI_RETRIES": "0",
               "AIRFLOW_VAR_NY_TAXI_SOURCE": str(source),
               "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
        env.pop("NY_TAXI_COPY_STREAMS", None)
        airflow = local.LocalAirflow(local.LocalAirflowSettings(
            run_dir=WORK / "airflow" / tag, port=free_port(), meta_db=f"{tag}_meta", taxi_db=f"{tag}_taxi",
            pg_dir=server.pg_dir, pg_port=server.port, base_env=env,
        ))
        say(f"backfill: {months} months of {rows:,} rows, max_active_runs={max_active}: starting the local Airflow")
        try:
            # The dbt DAGs run on each merge's Asset: paused, so the case times the load DAG alone
            # (with dbt installed they built the models beside every catchup: 65.8 s against 34.0 s without).
            code = airflow.run([taxi], say=lambda m: say(f"  airflow: {m}"), also_paused=DBT_DAGS)
            token = airflow.token()
            _, body = airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=logical_date&limit=100", token=token)
            runs = body["dag_runs"]
            loads, tasks, turns, spans = [], [], [], []
            for run in runs:
                _, tis = airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances",
                                         token=token)
                turns += _turns(tis["task_instances"])
                spans.append(_span(tis["task_instances"]))
                for t in tis["task_instances"]:
                    if t["start_date"] and t["end_date"]:
                        tasks.append((_time(t["start_date"]), _time(t["end_date"])))
                        if t["task_id"] in LOAD_TASKS:
                            loads.append(tasks[-1])
        finally:
            airflow.stop()
        starts = [_time(r["start_date"]) for r in runs if r["start_date"]]
        ends = [_time(r["end_date"]) for r in runs if r["end_date"]]
        wall = (max(ends) - min(starts)).total_seconds()
        load, busy = _union_seconds(loads), _union_seconds(tasks)
        out[max_active] = {
            "runs": len(runs), "succeeded": sum(r["state"] == "success" for r in runs), "exit_code": code,
            "wall": wall, "load": load, "overhead_share": 1 - load / wall,
            "other_tasks": busy - load, "between_tasks": wall - busy, "turns": turns,
            # serially: from a run's last task's end to the next run's first task being queued
            "between_runs": [(b[0] - a[1]).total_seconds() for a, b in zip(sorted(spans), sorted(spans)[1:])
                             if a and b] if max_active == 1 else [],
            "rows_per_file": server.scalar(f"{tag}_taxi", "SELECT string_agg(n::text, ',') FROM "
                                           f"(SELECT count(*) AS n FROM public.{taxi}_tripdata GROUP BY filename) c"),
        }
        say(f"backfill max_active_runs={max_active}: {out[max_active]['succeeded']}/{len(runs)} runs, wall {wall:.1f} s, "
            f"loads {load:.1f} s, Airflow overhead {100 * out[max_active]['overhead_share']:.0f}%")
    return {"months": months, "rows": rows, "settings": out, "taxi": taxi, "format": fmt}


def year_case(server: BenchPostgres, months: int, rows: int, max_active: int = 2) -> dict:
    """Issue 27's year of parquet: the same generated green months caught up twice by the local
    Airflow, once as the DataTalksClub's csv.gz and once as the TLC's parquet (a mirror in the TLC's
    layout), each with fresh databases; rows/s and the Airflow overhead of each."""
    return {fmt: backfill_case(server, months, rows, [max_active], fmt=fmt) for fmt in ("csv.gz", "parquet")}
