"""wait_for_file: the run's month resolved, and its file waited for, not failed, while unpublished.

The live schedule fires on the 1st and the TLC publishes each month weeks later. The sensor looks
for the month's file every ``NY_TAXI_PUBLISH_POKE_SECONDS`` in reschedule mode (the worker slot is
free between looks) and hands the run and the file it found to the load as arguments. A file
already there is found by the first look: the task succeeds without a reschedule. Past
``NY_TAXI_PUBLISH_WAIT_DAYS`` the run fails: "not published after N days". A 5xx or a network
error fails the look itself, which the task's retries repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from taxi_pipeline.extract.releases import locate
from taxi_pipeline.run import MonthRun


class MonthPublishedSensor(BaseSensorOperator):
    """Resolves the run (``resolve``: the context's month and source, as a MonthRun), then pokes until
    one of its ``candidates`` exists; returns ``{"run": MonthRun, "located": LocatedFile}``, each
    also an XCom of its own (``multiple_outputs``) for the tasks that take one."""

    ui_color = "#e8f7e4"

    def __init__(self, *, resolve: Callable[[Context], MonthRun], read_timeout: float, wait_days: int,
                 **kwargs: Any) -> None:
        super().__init__(mode="reschedule", timeout=wait_days * 86400, multiple_outputs=True, **kwargs)
        self.resolve, self.read_timeout, self.wait_days = resolve, read_timeout, wait_days
        self.run: MonthRun | None = None

    def poke(self, context: Context) -> PokeReturnValue | bool:
        self.run = run = self.resolve(context)
        found = locate(run["candidates"], run["label"], self.read_timeout)
        if found:
            self.log.info("%s: published: %s (%s)", run["label"], found["url"], found["format"])
            return PokeReturnValue(is_done=True, xcom_value={"run": run, "located": found})
        self.log.info("%s: not published yet (looked at %s); looking again in %.0f s", run["label"],
                      " and ".join(c["url"] for c in run["candidates"]), self.poke_interval)
        return False

    def execute(self, context: Any) -> Any:
        try:
            return super().execute(context)
        except AirflowSensorTimeout as exc:
            raise AirflowFailException(
                f"{self.run['label']}: not published after {self.wait_days} days "
                f"(looked at {' and '.join(c['url'] for c in self.run['candidates'])})"
            ) from exc
