"""One read of what a target loaded: its audit rows and Airflow's runs, made into the status model
(status.py). The page's data API and ``/metrics`` both call :func:`read_target`, so they show the
same thing from the same queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from taxi_pipeline.monitor import sources
from taxi_pipeline.monitor.metrics import TargetStatus
from taxi_pipeline.monitor.status import Load, TypeWindow, grid, summaries
from taxi_pipeline.months import Window
from taxi_pipeline.settings import Settings


@dataclass
class TargetRead:
    status: TargetStatus
    loads: list[Load] = field(default_factory=list)


def gcp_variables() -> dict[str, str] | None:
    """The GCP target's project and dataset (Airflow Variables, as its DAGs read them); None: GCP is
    not configured here, and the bigquery target is not shown."""
    from airflow.models.variable import Variable  # the api-server's: its secrets backends, env, then the DB

    values = {name: Variable.get(name, default_var=None) for name in ("gcp_project_id", "gcp_dataset", "gcp_location")}
    return values if values["gcp_project_id"] and values["gcp_dataset"] else None


def available_targets() -> list[str]:
    return ["postgres", *(["bigquery"] if gcp_variables() else [])]


def read_loads(target: str, window: Window) -> list[Load]:
    if target == "postgres":
        return sources.postgres_loads(window)
    gcp = gcp_variables()
    if gcp is None:
        raise sources.TargetUnavailable("BigQuery: the Variables gcp_project_id and gcp_dataset are not set")
    return sources.bigquery_loads(window, project=gcp["gcp_project_id"], dataset=gcp["gcp_dataset"],
                                  location=gcp["gcp_location"])


def read_target(target: str, session: Any, type_windows: list[TypeWindow], window: Window | None = None,
                now: datetime | None = None) -> TargetRead:
    """``target``'s model over ``window`` (default: every type's whole window). A target whose table
    cannot be read gives ``ok=False`` and the cause, with Airflow's runs still shown."""
    now = now or datetime.now(timezone.utc)
    window = window or sources.span(type_windows)
    shown = [TypeWindow(w.taxi, Window(max(w.window.first, window.first), min(w.window.last, window.last)),
                        w.open_source) for w in type_windows
             if w.window.first <= window.last and window.first <= w.window.last]
    runs = sources.airflow_runs(session, sources.AUDIT_TARGETS[target], type_windows)
    try:
        loads, ok, error = read_loads(target, window), True, ""
    except sources.TargetUnavailable as exc:
        loads, ok, error = [], False, str(exc)
    status = TargetStatus(target, summaries(shown, loads, runs, now=now), grid(shown, loads, runs, now=now), ok, error)
    return TargetRead(status, loads)


def type_windows(settings: Settings | None = None) -> list[TypeWindow]:
    return sources.windows(settings or Settings.from_env())
