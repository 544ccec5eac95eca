"""The "Taxi loads" page, its data API and ``/metrics``: a FastAPI app that the bundle's plugin
mounts in Airflow's api-server at ``/taxi-loads`` (taxi_pipeline_plugin.py: also its nav entry).

* ``/`` (the page) and ``/api/*`` sit behind Airflow's own login: ``requires_access_dag`` of the
  core API, which reads the UI's ``_token`` cookie or a bearer token. Airflow mounts a plugin's app
  with none of its routers' dependencies, so without this every endpoint would be open.
* ``/metrics`` (Prometheus text) is open, as Airflow's ``/api/v2/monitor/health`` is, unless
  ``NY_TAXI_METRICS_TOKEN`` is set: then it asks for that bearer token (Prometheus's
  ``authorization`` sends it).
* ``/static`` serves the page's script, style and uPlot (vendored: the page works offline).

Months in a URL (``from``, ``to``) are checked as the DAGs' params are: YYYY-MM within the
window, or a 422 naming the parameter. Every query binds its values (include/sql/monitor/).
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag

from taxi_pipeline.monitor import collect, sources
from taxi_pipeline.monitor.metrics import metrics_text
from taxi_pipeline.months import Month, ParamError, Window
from taxi_pipeline.settings import Settings

STATIC = Path(__file__).with_name("static")
logged_in = [Depends(requires_access_dag("GET", DagAccessEntity.RUN))]

app = FastAPI(title="Taxi loads", description=__doc__, docs_url=None, redoc_url=None, openapi_url=None)
app.mount("/static", StaticFiles(directory=STATIC), name="static")


def settings() -> Settings:
    try:
        return Settings.from_env()
    except ParamError as exc:  # the same error the DAG files show as an import error
        raise HTTPException(500, f"the bundle's settings: {exc}") from exc


def chosen_window(type_windows: list[Any], first: str | None, last: str | None) -> Window:
    """The months a URL asks for, checked like the DAGs' params: YYYY-MM, inside the windows."""
    whole = sources.span(type_windows)
    chosen: dict[str, Month] = {}
    for name, raw, default in (("from", first, whole.first), ("to", last, whole.last)):
        try:
            chosen[name] = Month.parse(raw, name=name) if raw else default
        except (ParamError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from exc
        if chosen[name] not in whole:
            raise HTTPException(422, f"{name}: {chosen[name]} is outside the DAGs' window {whole.first}..{whole.last}")
    if chosen["from"] > chosen["to"]:
        raise HTTPException(422, f"from: {chosen['from']} is after to: {chosen['to']}")
    return Window(chosen["from"], chosen["to"])


FromMonth = Annotated[str | None, Query(alias="from", description="the first month shown, YYYY-MM")]
ToMonth = Annotated[str | None, Query(alias="to", description="the last month shown, YYYY-MM")]


@app.get("/", dependencies=logged_in, include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


@app.get("/api/status", dependencies=logged_in)
def status(session: SessionDep, target: Literal["postgres", "bigquery"] = "postgres",
           first: FromMonth = None, last: ToMonth = None) -> dict[str, Any]:
    """The grid, the per-type summaries and every load of the chosen months, for one target."""
    type_windows = collect.type_windows(settings())
    window = chosen_window(type_windows, first, last)
    read = collect.read_target(target, session, type_windows, window)
    s = read.status
    return {
        "target": target, "targets": collect.available_targets(), "ok": s.ok, "error": s.error,
        "from": str(window.first), "to": str(window.last),
        "window": {w.taxi: [str(w.window.first), str(w.window.last)] for w in type_windows},
        "cells": [c.as_json() for c in s.grid.cells],
        "summaries": [{
            "taxi": x.taxi, "months_loaded": x.months_loaded,
            "last_loaded_month": str(x.last_loaded_month) if x.last_loaded_month else None,
            "last_published_month": str(x.last_published_month) if x.last_published_month else None,
            "rows_total": x.rows_total, "last_load_seconds": x.last_load_seconds,
            "last_load_rows_per_second": x.last_load_rows_per_second, "failed_months": x.failed_months,
            "quality_failed_months": x.quality_failed_months, "freshness_lag_days": x.freshness_lag_days,
        } for x in s.summaries],
        "loads": [{"taxi": x.taxi, "month": str(x.month), "rows": x.rows_in_file, "inserted": x.inserted_rows,
                   "seconds": x.seconds, "rows_per_second": x.rows_per_second,
                   "finished_at": x.finished_at.isoformat()} for x in read.loads],
    }


@app.get("/api/analytics", dependencies=logged_in)
def analytics(first: FromMonth = None, last: ToMonth = None) -> dict[str, Any]:
    """Trips and revenue per month, service type and borough from the dbt mart; ``available`` is
    false where dbt has not built it (the page then hides its tab)."""
    config = settings()
    window = chosen_window(collect.type_windows(config), first, last)
    try:
        rows = sources.zone_revenue(window, config.dbt_schema)
    except sources.TargetUnavailable as exc:
        return {"available": False, "error": str(exc), "rows": []}
    return {"available": rows is not None, "error": "", "mart": f"{config.dbt_schema}.dm_monthly_zone_revenue",
            "rows": rows or []}


def metrics_allowed(request: Request) -> None:
    token = settings().metrics_token
    if not token:
        return
    sent = request.headers.get("authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        raise HTTPException(401, "NY_TAXI_METRICS_TOKEN is set: send it as 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})


@app.get("/metrics", dependencies=[Depends(metrics_allowed)], include_in_schema=False)
def metrics(session: SessionDep) -> Response:
    """Every available target's status as Prometheus text (monitor/metrics.py names the series)."""
    type_windows = collect.type_windows(settings())
    targets = [collect.read_target(t, session, type_windows).status for t in collect.available_targets()]
    body = metrics_text(targets, sources.scheduler_heartbeat_age(session))
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
