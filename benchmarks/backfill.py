"""Case 5: months through the real scheduler (the local Airflow of scripts/airflow_local.py).

For each ``max_active_runs`` setting: a fresh metadata database and taxi database on the
benchmark's Postgres, the local Airflow restarted with that setting and a window of N generated
months, ``postgres_taxi_<taxi>`` (green by default) caught up by the scheduler (LocalExecutor, one process per task),
then the runs and task instances read back from the REST API.

* wall time: first run started -> last run ended;
* load time: the union of the intervals in which a ``load_staging`` or ``hash_merge`` task ran
  (the database work; with parallel runs, overlapping loads count once);
* Airflow overhead: wall time minus load time, as a share of wall time; split into the time some
  other task ran (resolve_month, drop_staging, first imports) and the time no task
  ran at all (the scheduler's loop between tasks and runs).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import datetime
from pathlib import Path

from benchmarks.common import ROOT, WORK, BenchPostgres, free_port, say
from benchmarks.data import generated, month_range
from taxi_pipeline.months import Month

LOAD_TASKS = ("load_staging", "hash_merge")


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


def backfill_case(server: BenchPostgres, months: int, rows: int, settings: list[int], taxi: str = "green") -> dict:
    dag_id = f"postgres_taxi_{taxi}"
    root = WORK / ("data-small" if taxi == "green" else f"data-backfill-{taxi}")  # green: case 1 loads them too
    files = generated(taxi, month_range(Month(2019, 1), months), rows, root=root)
    local = _airflow_local()
    out = {}
    for max_active in settings:
        tag = f"bf{max_active}"
        server.recreate(f"{tag}_taxi")
        server.run("dropdb", f"{tag}_meta")
        env = {**os.environ,
               "NY_TAXI_START_MONTH": str(files[0].month), "NY_TAXI_END_MONTH": str(files[-1].month),
               "NY_TAXI_MAX_ACTIVE_RUNS": str(max_active), "NY_TAXI_RETRIES": "0",
               "AIRFLOW_VAR_NY_TAXI_SOURCE": str(files[0].root),
               "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
        env.pop("NY_TAXI_COPY_STREAMS", None)
        airflow = local.LocalAirflow(local.LocalAirflowSettings(
            run_dir=WORK / "airflow" / tag, port=free_port(), meta_db=f"{tag}_meta", taxi_db=f"{tag}_taxi",
            pg_dir=server.pg_dir, pg_port=server.port, base_env=env,
        ))
        say(f"backfill: {months} months of {rows:,} rows, max_active_runs={max_active}: starting the local Airflow")
        try:
            code = airflow.run([taxi], say=lambda m: say(f"  airflow: {m}"))
            token = airflow.token()
            _, body = airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=logical_date&limit=100", token=token)
            runs = body["dag_runs"]
            loads, tasks = [], []
            for run in runs:
                _, tis = airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances",
                                         token=token)
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
            "other_tasks": busy - load, "between_tasks": wall - busy,
            "rows_per_file": server.scalar(f"{tag}_taxi", "SELECT string_agg(n::text, ',') FROM "
                                           f"(SELECT count(*) AS n FROM public.{taxi}_tripdata GROUP BY filename) c"),
        }
        say(f"backfill max_active_runs={max_active}: {out[max_active]['succeeded']}/{len(runs)} runs, wall {wall:.1f} s, "
            f"loads {load:.1f} s, Airflow overhead {100 * out[max_active]['overhead_share']:.0f}%")
    return {"months": months, "rows": rows, "settings": out, "taxi": taxi}
