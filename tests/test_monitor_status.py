"""The status model behind the "Taxi loads" page and /metrics (issue 26's first part): pure, so
these tests build rows by hand; the queries that fetch real rows come with the page."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from taxi_pipeline.monitor.metrics import TargetStatus, metrics_text
from taxi_pipeline.monitor.status import CellState, Load, Run, TypeWindow, grid, publication, summaries
from taxi_pipeline.months import Month, Window

NOW = datetime(2021, 9, 15, tzinfo=timezone.utc)
T0 = datetime(2021, 9, 1, tzinfo=timezone.utc)
WINDOW = TypeWindow("green", Window(Month(2021, 1), Month(2021, 8)), open_source=True)
FAIL = {"verdict": "fail", "checks": [{"check": "trips_per_day", "severity": "fail", "passed": False}]}


def load(month: int, *, at: int, inserted: int = 100, quality: dict | None = None, run: str = "r") -> Load:
    return Load("green", Month(2021, month), "postgres_taxi_green", f"{run}{month}", 100, inserted, 2.0,
                T0 + timedelta(hours=at), quality)


def run(month: int, state: str, *, at: int, note: str | None = None, **kw) -> Run:
    moment = T0 + timedelta(hours=at)
    return Run("green", Month(2021, month), "postgres_taxi_green", f"f{month}", state, moment,
               None if state in ("running", "queued") else moment, note, **kw)


def states(loads: list[Load], runs: list[Run]) -> dict[str, tuple[CellState, str]]:
    return {str(c.month): (c.state, c.detail) for c in grid([WINDOW], loads, runs, now=NOW).cells}


def test_every_state_by_its_rule() -> None:
    found = states(
        [load(1, at=1), load(2, at=1), load(2, at=2, inserted=0), load(3, at=1, quality=FAIL), load(4, at=1)],
        [run(4, "failed", at=3, note="green 2021-04: bad gzip in the file\nTraceback"),
         run(5, "running", at=3), run(6, "running", at=3, waiting_for_file=True)],
    )
    assert found["2021-01"][0] is CellState.LOADED
    assert found["2021-02"][0] is CellState.UNCHANGED
    assert found["2021-03"] == (CellState.QUALITY_FAILED, "quality failed: trips_per_day")
    assert found["2021-04"] == (CellState.FAILED, "green 2021-04: bad gzip in the file")
    assert found["2021-05"][0] is CellState.RUNNING
    assert found["2021-06"][0] is CellState.NOT_PUBLISHED
    assert found["2021-07"][0] is CellState.PUBLISHED  # open source: 2021-07 published from 2021-09-01
    assert found["2021-08"][0] is CellState.NOT_PUBLISHED  # ... 2021-08 from 2021-10-01


def test_a_load_after_a_failure_wins_and_a_failure_after_a_load_wins() -> None:
    assert states([load(1, at=5)], [run(1, "failed", at=3)])["2021-01"][0] is CellState.LOADED
    assert states([load(1, at=1)], [run(1, "failed", at=3)])["2021-01"] == (CellState.FAILED, "a task failed")


def test_publication_of_a_closed_and_an_open_source() -> None:
    assert publication(Month(2021, 7), open_source=False) == datetime(2021, 8, 1, tzinfo=timezone.utc)
    assert publication(Month(2021, 12), open_source=True) == datetime(2022, 2, 1, tzinfo=timezone.utc)


def test_summaries_and_their_metrics_name_the_failing_month() -> None:
    loads = [load(1, at=1), load(2, at=2, inserted=0), load(2, at=1)]
    runs = [run(3, "failed", at=4, note="green 2021-03: HTTP 404")]
    summary, = summaries([WINDOW], loads, runs, now=NOW)
    assert (summary.months_loaded, summary.last_loaded_month, summary.rows_total) == (2, Month(2021, 2), 200)
    assert (summary.failed_months, summary.quality_failed_months, summary.last_load_rows_per_second) == (1, 0, 50.0)
    # 2021-03 (published 2021-05-01) is the oldest published month with no load
    assert summary.freshness_lag_days == (NOW - datetime(2021, 5, 1, tzinfo=timezone.utc)).days
    text = metrics_text([TargetStatus("postgres", [summary], grid([WINDOW], loads, runs, now=NOW))], 4.5).decode()
    assert 'ny_taxi_months_loaded{target="postgres",taxi="green"} 2.0' in text
    assert 'ny_taxi_month_failed{dag_id="postgres_taxi_green",detail="green 2021-03: HTTP 404",month="2021-03"' in text
    assert 'ny_taxi_target_up{target="postgres"} 1.0' in text
    assert "ny_taxi_scheduler_heartbeat_age_seconds 4.5" in text
