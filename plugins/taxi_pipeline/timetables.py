"""The taxi DAGs' schedule: a cron trigger that stops after the window's last month.

Why not the DAG's ``end_date``: Airflow gives every task the DAG's end_date and creates no task
instance for a run dated after it, and the Trigger form's Logical Date defaults to *now*. So with
an end_date in the past, the first click on Trigger made an empty run that "succeeded" having
loaded nothing. Ending the schedule here instead leaves the tasks undated: the manual run gets
its tasks, and wait_for_file decides which month it loads (the form's, pre-filled with the
window's last). Catchup and ``airflow backfill create`` stop at the same month as before.

It is registered by the ``taxi_pipeline`` plugin (plugins/taxi_pipeline_plugin.py), as Airflow
requires of a timetable that is not its own, so the scheduler and api-server can deserialize it.
"""

from __future__ import annotations

import datetime
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable


class WindowCronTimetable(CronTriggerTimetable):
    """``CronTriggerTimetable(cron)`` with no run after ``last_run`` (None: open-ended)."""

    def __init__(self, cron: str, *, timezone: Any, last_run: datetime.datetime | None = None) -> None:
        super().__init__(cron, timezone=timezone)
        self.last_run = last_run

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        info = super().next_dagrun_info(last_automated_data_interval=last_automated_data_interval,
                                        restriction=restriction)
        if info is not None and self.last_run is not None and info.run_after > self.last_run:
            return None
        return info

    def serialize(self) -> dict[str, Any]:
        return {**super().serialize(), "last_run": self.last_run.isoformat() if self.last_run else None}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> WindowCronTimetable:
        cron = CronTriggerTimetable.deserialize(data)
        last_run = datetime.datetime.fromisoformat(data["last_run"]) if data.get("last_run") else None
        return cls(cron._expression, timezone=cron._timezone, last_run=last_run)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WindowCronTimetable) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((self._expression, self.last_run))
