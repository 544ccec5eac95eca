"""Registers what Airflow needs registered from this bundle: the taxi DAGs' timetable, and the
"Taxi loads" page with its ``/metrics`` (taxi_pipeline/monitor/app.py), mounted in the api-server
at ``/taxi-loads`` and linked from the nav's Browse menu."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from taxi_pipeline.timetables import WindowCronTimetable

URL_PREFIX = "/taxi-loads"


class _MonitorApp:
    """The monitor's ASGI app, imported on its first request. Every Airflow process loads this
    plugin (the scheduler and each task process for the timetable), but only the api-server serves
    the page: importing FastAPI and the core API's security for it costs about 1 s per process."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from taxi_pipeline.monitor.app import app

        await app(scope, receive, send)


class TaxiPipelinePlugin(AirflowPlugin):
    name = "taxi_pipeline"
    timetables = [WindowCronTimetable]
    fastapi_apps = [{"app": _MonitorApp(), "url_prefix": URL_PREFIX, "name": "Taxi loads"}]
    external_views = [{
        "name": "Taxi loads",
        "href": f"{URL_PREFIX}/",
        "url_route": "taxi-loads",  # shown inside Airflow's UI at /plugin/taxi-loads
        "destination": "nav",
        "category": "browse",
    }]
