"""wait_for_file: a month not published yet is waited for, not failed.

The live schedule fires on the 1st and the TLC publishes each month weeks later. The sensor looks
for the month's file every ``NY_TAXI_PUBLISH_POKE_SECONDS`` in reschedule mode (the worker slot is
free between looks) and hands the file it found to the load as an argument. Past
``NY_TAXI_PUBLISH_WAIT_DAYS`` the run fails: "not published after N days". A 5xx or a network
error fails the look itself, which the task's retries repeat.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from taxi_pipeline.extract.releases import locate


class MonthPublishedSensor(BaseSensorOperator):
    """Pokes until one of ``run["candidates"]`` exists; returns it (a LocatedFile)."""

    template_fields = ("run",)
    ui_color = "#e8f7e4"

    def __init__(self, *, run: Any, read_timeout: float, wait_days: int, **kwargs: Any) -> None:
        super().__init__(mode="reschedule", timeout=wait_days * 86400, **kwargs)
        self.run, self.read_timeout, self.wait_days = run, read_timeout, wait_days

    def poke(self, context: Any) -> PokeReturnValue | bool:
        found = locate(self.run["candidates"], self.run["label"], self.read_timeout)
        if found:
            self.log.info("%s: published: %s (%s)", self.run["label"], found["url"], found["format"])
            return PokeReturnValue(is_done=True, xcom_value=found)
        self.log.info("%s: not published yet (looked at %s); looking again in %.0f s", self.run["label"],
                      " and ".join(c["url"] for c in self.run["candidates"]), self.poke_interval)
        return False

    def execute(self, context: Any) -> Any:
        try:
            return super().execute(context)
        except AirflowSensorTimeout as exc:
            raise AirflowFailException(
                f"{self.run['label']}: not published after {self.wait_days} days "
                f"(looked at {' and '.join(c['url'] for c in self.run['candidates'])})"
            ) from exc
