"""Case 12: the "Taxi loads" page at ten years x four types of audit rows, in a real browser.

A local Airflow (tests/support/e2e_airflow.py) on the benchmark's Postgres, its window 2015-01..2024-12
with NY_TAXI_SOURCE=tlc (the TLC publishes green and yellow from before 2015, fhv from 2015-01,
fhvhv from 2019-02: 431 months in all; nothing is downloaded, the DAGs stay paused). Its taxi DB gets one audit row per month and type, a re-load of every fifth month
(0 inserted) and a failed check every 37th; its metadata DB one run per month and type (created
through the REST API on the paused DAGs, so they stay queued: the page reads them all the same).

Timed, ``reps`` times each, taking turns: the page in headless Chromium from navigation start to
its data and charts drawn (page.js's ``taxi-loads-drawn`` mark), ``/taxi-loads/api/status`` and
``/metrics`` over HTTP. Target: the page under 1 s.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta, timezone

from benchmarks.common import WORK, BenchPostgres, Samples, say
from taxi_pipeline.months import Month, Window

WINDOW = ("2015-01", "2024-12")
PAGE_TARGET_SECONDS = 1.0


def page_case(server: BenchPostgres, reps: int) -> dict:
    from tests.support.browser import AirflowUI, chromium_driver, find_browser
    from tests.support.e2e_airflow import running_airflow

    found = find_browser()
    if isinstance(found, str):
        return {"pending": found}
    with running_airflow(name="bench_page", run_dir=WORK / "page-airflow", pg_server=server,
                         source_url="tlc", window=WINDOW, dag_env={"NY_TAXI_SOURCE": "tlc"}) as airflow:
        months = _type_months(airflow)
        loads = _seed_audit(server, airflow.local.s.taxi_db, months)
        runs = _seed_runs(airflow, months)
        say(f"case 12: {loads} audit rows and {runs} runs seeded over {sum(map(len, months.values()))} months")
        token = airflow.local.token()
        base = airflow.local.s.base_url
        samples = {name: Samples() for name in ("page in the browser", "api/status", "metrics")}
        with chromium_driver() as driver:
            ui = AirflowUI(driver, base, artifacts=WORK / "page-failed")
            ui.login(airflow.local.s.user, airflow.local.s.password)
            ui.open_taxi_loads(within_airflow=False)  # a first load warms the api-server's imports
            for _ in range(reps):
                ui.open_taxi_loads(within_airflow=False)
                ui.wait("the page drawn", lambda: driver.execute_script(
                    "return document.body.dataset.loaded === 'all'"))
                drawn = driver.execute_script("return performance.getEntriesByName('taxi-loads-drawn')[0].startTime")
                samples["page in the browser"].add(drawn / 1000)
                samples["api/status"].add(_get(f"{base}/taxi-loads/api/status", token))
                samples["metrics"].add(_get(f"{base}/taxi-loads/metrics", None))
            cells = driver.execute_script("return document.querySelectorAll('td.cell').length")
    return {"samples": samples, "loads": loads, "runs": runs, "cells": cells, "window": WINDOW,
            "target": PAGE_TARGET_SECONDS}


def _type_months(airflow) -> dict[str, list[Month]]:
    """Each type's months, as its DAG's window has them (the api-server's own settings)."""
    status = json.loads(_fetch(f"{airflow.local.s.base_url}/taxi-loads/api/status", airflow.local.token()))
    return {taxi: Window(Month.parse(first), Month.parse(last)).months()
            for taxi, (first, last) in status["window"].items()}


def _seed_audit(server: BenchPostgres, database: str, months: dict[str, list[Month]]) -> int:
    from taxi_pipeline.postgres.steps import ensure_tables
    from taxi_pipeline.specs import get_spec

    conn = server.connect(database, autocommit=False)
    try:
        for taxi in months:
            ensure_tables(conn, get_spec(taxi))
        rows, at = [], datetime(2026, 1, 1, tzinfo=timezone.utc)
        for taxi, its in months.items():
            for i, month in enumerate(its):
                size = 50_000 + 1_000 * (i % 90)
                verdict = "fail" if i % 37 == 36 else "ok"
                checks = [{"check": "negative_total_amount", "severity": "fail", "passed": verdict == "ok", "says": ""}]
                for again in range(2 if i % 5 == 4 else 1):
                    at += timedelta(minutes=3)
                    rows.append((f"postgres_taxi_{taxi}", f"seeded__{month}", 1, taxi, month.first_moment().date(),
                                 get_spec(taxi).filename(month.year, month.month), "file:///seeded", 1, "0" * 64,
                                 size, 0 if again else size, size if again else 0, "inserted", at - timedelta(seconds=9),
                                 at, 9.0 + i % 7, json.dumps({"verdict": verdict, "checks": checks})))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO ny_taxi_audit.loads (dag_id, run_id, try_number, taxi, month, filename, source_url, "
                "compressed_bytes, sha256, rows_in_file, inserted_rows, skipped_rows, placement, started_at, "
                "finished_at, seconds, quality) VALUES (" + ", ".join(["%s"] * 17) + ")", rows)
        conn.commit()
        return len(rows)
    finally:
        conn.close()


def _seed_runs(airflow, months: dict[str, list[Month]]) -> int:
    count = 0
    for taxi, its in months.items():
        for month in its:
            airflow.api("POST", f"/dags/postgres_taxi_{taxi}/dagRuns",
                        {"logical_date": month.first_moment().isoformat(), "conf": {}})
            count += 1
    return count


def _fetch(url: str, token: str | None) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as answer:
        return answer.read()


def _get(url: str, token: str | None) -> float:
    started = time.perf_counter()
    _fetch(url, token)
    return time.perf_counter() - started


def page_section(page: dict) -> tuple[list[str], float | None]:
    """RESULTS.md's section and the page's median seconds (None: pending)."""
    if "pending" in page:
        return ["## 12. The \"Taxi loads\" page", "", f"Pending: {page['pending']}", ""], None
    samples = page["samples"]
    lines = [
        "## 12. The \"Taxi loads\" page at ten years x four types",
        "",
        f"A local Airflow with the window {page['window'][0]}..{page['window'][1]}: {page['loads']} audit rows "
        f"(a re-load of every fifth month, a failed check every 37th) and {page['runs']} DAG runs, seeded; the grid "
        f"draws {page['cells']} cells. The page is timed in headless Chromium from navigation start to its data and "
        "charts drawn (the `taxi-loads-drawn` mark); the two endpoints over HTTP. Seconds, median (min-max) over "
        f"{len(samples['api/status'].values)} turns.",
        "",
        "| what | seconds |",
        "| --- | ---: |",
        *(f"| {name} | {s.spread()} |" for name, s in samples.items()),
        "",
    ]
    return lines, samples["page in the browser"].median
