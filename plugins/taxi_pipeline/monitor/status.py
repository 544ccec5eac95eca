"""The status of every (type, month) of the window, from the audit rows and the DAG runs: the one
model that the "Taxi loads" page and ``/metrics`` both read, so the two cannot disagree.

Pure functions over plain rows: the callers fetch the rows (a target's audit table, Airflow's
runs) and pass them in, which keeps this testable without a database.

A cell's state, first match wins:

* ``running`` / ``not_published``: the month's newest run is still going, after its newest load
  (``not_published`` while wait_for_file waits for the file);
* ``quality_failed``: the newest load's quality verdict is ``fail`` and no run failed after it;
* ``failed``: the newest run failed after the newest load (or there is no load); the detail is the
  run's note (the failure's one line, set by the failure callback) or the task that failed;
* ``unchanged``: re-loaded, nothing inserted (the newest load inserted 0 rows, and an older load exists);
* ``loaded``: loaded, with its rows;
* ``published``: no load, and the source has published the month;
* ``not_published``: no load, and the source has not published it yet.

Published: a source with a closed span (dtc) has published every month of it; an open one (tlc,
a mirror) publishes a month :data:`PUBLICATION_LAG_MONTHS` months after it begins (the TLC
publishes "about two months late"; releases.py). A run's wait_for_file that found the file
overrides the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Iterable

from taxi_pipeline.months import Month, Window

PUBLICATION_LAG_MONTHS = 2  # an open source's month M is published at the start of M + 2


class CellState(str, Enum):
    LOADED = "loaded"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    QUALITY_FAILED = "quality_failed"
    RUNNING = "running"
    PUBLISHED = "published"  # published, not loaded
    NOT_PUBLISHED = "not_published"


@dataclass(frozen=True)
class Load:
    """One audit row (Postgres ``ny_taxi_audit.loads`` or BigQuery ``ny_taxi_loads``)."""

    taxi: str
    month: Month
    dag_id: str
    run_id: str
    rows_in_file: int
    inserted_rows: int
    seconds: float
    finished_at: datetime
    quality: dict[str, Any] | None = None  # {"verdict": ok|warn|fail, "checks": [...]} (quality.py)

    @property
    def failed_checks(self) -> list[str]:
        return [c["check"] for c in (self.quality or {}).get("checks", [])
                if not c.get("passed") and c.get("severity") == "fail"]

    @property
    def rows_per_second(self) -> float:
        return self.rows_in_file / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Run:
    """One DAG run of a month, from Airflow's metadata (the month as wait_for_file decides it)."""

    taxi: str
    month: Month
    dag_id: str
    run_id: str
    state: str  # Airflow's DagRunState: queued, running, success, failed
    started_at: datetime | None
    ended_at: datetime | None
    note: str | None = None
    failed_task: str | None = None
    waiting_for_file: bool = False  # wait_for_file is up for reschedule: the file is not there yet
    found_file: bool = False  # wait_for_file succeeded: the source had published the month

    @property
    def moment(self) -> datetime:
        return self.ended_at or self.started_at or datetime.min.replace(tzinfo=timezone.utc)


@dataclass
class Cell:
    taxi: str
    month: Month
    state: CellState
    detail: str = ""
    rows: int | None = None  # the newest load's rows in file
    loads: int = 0
    dag_id: str | None = None
    run_id: str | None = None  # the run a click opens: the newest run's, else the newest load's

    def as_json(self) -> dict[str, Any]:
        return {"taxi": self.taxi, "month": str(self.month), "state": self.state.value, "detail": self.detail,
                "rows": self.rows, "loads": self.loads, "dag_id": self.dag_id, "run_id": self.run_id}


def publication(month: Month, *, open_source: bool) -> datetime:
    """When the source publishes ``month``: after it ends (closed span), or PUBLICATION_LAG_MONTHS
    after it begins (open)."""
    published = month
    for _ in range(PUBLICATION_LAG_MONTHS if open_source else 1):
        published = published.next()
    return published.first_moment()


def cell(taxi: str, month: Month, loads: list[Load], runs: list[Run], *, open_source: bool, now: datetime) -> Cell:
    """The state of one (type, month): see the module doc for the order of the rules."""
    load = max(loads, key=lambda row: row.finished_at, default=None)
    run = max(runs, key=lambda row: row.moment, default=None)
    after_load = run is not None and (load is None or run.moment > load.finished_at)
    found = Cell(taxi, month, CellState.LOADED, loads=len(loads), rows=load.rows_in_file if load else None,
                 dag_id=(run or load).dag_id if (run or load) else None,
                 run_id=(run or load).run_id if (run or load) else None)
    if run is not None and run.state in ("queued", "running") and after_load:
        found.state = CellState.NOT_PUBLISHED if run.waiting_for_file else CellState.RUNNING
        found.detail = "waiting for the file" if run.waiting_for_file else f"{run.state} since {_when(run.started_at)}"
    elif load is not None and load.failed_checks and not (after_load and run.state == "failed" and run.run_id != load.run_id):
        found.state, found.detail = CellState.QUALITY_FAILED, "quality failed: " + ", ".join(load.failed_checks)
        found.dag_id, found.run_id = load.dag_id, load.run_id
    elif run is not None and run.state == "failed" and after_load:
        found.state = CellState.FAILED
        found.detail = (run.note or "").strip().splitlines()[0] if run.note else f"{run.failed_task or 'a task'} failed"
    elif load is not None:
        found.state = CellState.UNCHANGED if load.inserted_rows == 0 and len(loads) > 1 else CellState.LOADED
        found.detail = f"{load.rows_in_file:,} rows, {load.inserted_rows:,} inserted"
        found.dag_id, found.run_id = load.dag_id, load.run_id
    elif any(r.found_file for r in runs) or publication(month, open_source=open_source) <= now:
        found.state, found.detail = CellState.PUBLISHED, "published, not loaded"
    else:
        found.state = CellState.NOT_PUBLISHED
        found.detail = f"expected from {publication(month, open_source=open_source):%Y-%m-%d}"
    return found


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "now"


@dataclass(frozen=True)
class TypeWindow:
    """A type's window and whether its source keeps publishing (Settings.window / open_ended)."""

    taxi: str
    window: Window
    open_source: bool


@dataclass
class Grid:
    cells: list[Cell] = field(default_factory=list)

    def of(self, taxi: str) -> list[Cell]:
        return [c for c in self.cells if c.taxi == taxi]


def grid(windows: Iterable[TypeWindow], loads: Iterable[Load], runs: Iterable[Run], *,
         now: datetime | None = None) -> Grid:
    """Every (type, month) of the windows, each with its state."""
    now = now or datetime.now(timezone.utc)
    loads_of: dict[tuple[str, Month], list[Load]] = {}
    runs_of: dict[tuple[str, Month], list[Run]] = {}
    for row in loads:
        loads_of.setdefault((row.taxi, row.month), []).append(row)
    for row in runs:
        runs_of.setdefault((row.taxi, row.month), []).append(row)
    return Grid([cell(w.taxi, month, loads_of.get((w.taxi, month), []), runs_of.get((w.taxi, month), []),
                      open_source=w.open_source, now=now)
                 for w in windows for month in w.window.months()])


@dataclass(frozen=True)
class TypeSummary:
    """Per type, what /metrics exports and the page's header shows."""

    taxi: str
    months_loaded: int
    last_loaded_month: Month | None
    last_published_month: Month | None
    rows_total: int  # the newest load of each month: rows in its file
    last_load_seconds: float | None
    last_load_rows_per_second: float | None
    failed_months: int
    quality_failed_months: int
    freshness_lag_days: float  # since the oldest published month that has no load was published; 0: none


def summaries(windows: Iterable[TypeWindow], loads: Iterable[Load], runs: Iterable[Run], *,
              now: datetime | None = None) -> list[TypeSummary]:
    now = now or datetime.now(timezone.utc)
    windows, loads = list(windows), list(loads)
    cells = grid(windows, loads, runs, now=now)
    out = []
    for w in windows:
        mine = cells.of(w.taxi)
        in_window = [row for row in loads if row.taxi == w.taxi and row.month in w.window]
        newest: dict[Month, Load] = {}
        for row in in_window:
            if row.month not in newest or row.finished_at > newest[row.month].finished_at:
                newest[row.month] = row
        last = max(in_window, key=lambda row: row.finished_at, default=None)
        published = [c.month for c in mine if c.state is not CellState.NOT_PUBLISHED or c.loads]
        unloaded = [c.month for c in mine if c.loads == 0 and c.state in (CellState.PUBLISHED, CellState.FAILED)]
        lag = ((now - publication(min(unloaded), open_source=w.open_source)).total_seconds() / 86400
               if unloaded else 0.0)
        out.append(TypeSummary(
            taxi=w.taxi, months_loaded=len(newest), last_loaded_month=max(newest, default=None),
            last_published_month=max(published, default=None),
            rows_total=sum(row.rows_in_file for row in newest.values()),
            last_load_seconds=last.seconds if last else None,
            last_load_rows_per_second=last.rows_per_second if last else None,
            failed_months=sum(c.state is CellState.FAILED for c in mine),
            quality_failed_months=sum(c.state is CellState.QUALITY_FAILED for c in mine),
            freshness_lag_days=max(lag, 0.0)))
    return out
