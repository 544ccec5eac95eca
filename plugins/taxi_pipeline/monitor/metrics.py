"""``/metrics`` in the Prometheus text format, built from the same model as the page (status.py).

Per target and type (labels ``target``, ``taxi``): months loaded, the last loaded month, rows, the
last load's seconds and rows/s, failed and quality-failed months of the window, freshness lag.
Per failing month (labels ``taxi``, ``month``, ...): one series at 1, so an alert names the month.
The monitoring rules (monitoring/prometheus/rules.yml) read these names; promtool tests them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from taxi_pipeline.monitor.status import CellState, Grid, TypeSummary

PREFIX = "ny_taxi"


@dataclass(frozen=True)
class TargetStatus:
    """One target's model: ``ok`` False when its audit table could not be read (``error`` says why)."""

    target: str
    summaries: list[TypeSummary]
    grid: Grid
    ok: bool = True
    error: str = ""


class StatusCollector(Collector):
    def __init__(self, targets: Iterable[TargetStatus], scheduler_heartbeat_age: float | None) -> None:
        self.targets, self.heartbeat_age = list(targets), scheduler_heartbeat_age

    def collect(self) -> Iterator[GaugeMetricFamily]:
        per_type = {
            "months_loaded": ("months of the window with a load", lambda s: s.months_loaded),
            "last_loaded_month_timestamp_seconds": (
                "the first second of the newest month loaded (unix time)",
                lambda s: s.last_loaded_month.first_moment().timestamp() if s.last_loaded_month else None),
            "rows": ("rows in the files loaded, the newest load of each month", lambda s: s.rows_total),
            "last_load_seconds": ("the newest load's seconds", lambda s: s.last_load_seconds),
            "last_load_rows_per_second": ("the newest load's rows per second", lambda s: s.last_load_rows_per_second),
            "failed_months": ("months of the window whose newest run failed", lambda s: s.failed_months),
            "quality_failed_months": ("months whose newest load failed a quality check",
                                      lambda s: s.quality_failed_months),
            "freshness_lag_days": ("days since the oldest published month with no load was published; 0: none",
                                   lambda s: s.freshness_lag_days),
        }
        for name, (doc, value) in per_type.items():
            family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=["target", "taxi"])
            for target in self.targets:
                for summary in target.summaries:
                    if (measured := value(summary)) is not None:
                        family.add_metric([target.target, summary.taxi], float(measured))
            yield family
        failed = GaugeMetricFamily(f"{PREFIX}_month_failed", "1: the month's newest run failed (detail: its cause)",
                                   labels=["target", "taxi", "month", "dag_id", "run_id", "detail"])
        quality = GaugeMetricFamily(f"{PREFIX}_month_quality_failed", "1: the month's newest load failed a check",
                                    labels=["target", "taxi", "month", "dag_id", "run_id", "detail"])
        for target in self.targets:
            for cell in target.grid.cells:
                family = {CellState.FAILED: failed, CellState.QUALITY_FAILED: quality}.get(cell.state)
                if family is not None:
                    family.add_metric([target.target, cell.taxi, str(cell.month), cell.dag_id or "", cell.run_id or "",
                                       cell.detail[:200]], 1.0)
        yield failed
        yield quality
        up = GaugeMetricFamily(f"{PREFIX}_target_up", "1: the target's audit table was read", labels=["target"])
        for target in self.targets:
            up.add_metric([target.target], 1.0 if target.ok else 0.0)
        yield up
        if self.heartbeat_age is not None:
            yield GaugeMetricFamily(f"{PREFIX}_scheduler_heartbeat_age_seconds",
                                    "seconds since the newest scheduler heartbeat (Airflow's job table)",
                                    value=self.heartbeat_age)


def metrics_text(targets: Iterable[TargetStatus], scheduler_heartbeat_age: float | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(targets, scheduler_heartbeat_age))
    return generate_latest(registry)
