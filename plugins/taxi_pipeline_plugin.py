"""Registers what Airflow needs registered from this bundle: the taxi DAGs' timetable."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from taxi_pipeline.timetables import WindowCronTimetable


class TaxiPipelinePlugin(AirflowPlugin):
    name = "taxi_pipeline"
    timetables = [WindowCronTimetable]
