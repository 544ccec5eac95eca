"""The Grafana dashboard (monitoring/grafana/dashboards/ny_taxi.json) against what /metrics exports.

No Grafana runs here (Debian has no package); what can break is checked with real parts instead:
every panel queries the provisioned datasource, names only series the plugin's metrics.py
exports (or Prometheus's own ``up``), every exported series is on some panel (the page's panels),
and every query parses in a real Prometheus (Debian's, through scripts/monitoring_local.py).
That each one also returns its series from a real Airflow is tests/e2e/test_e2e_browser.py's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from taxi_pipeline.monitor.metrics import StatusCollector
from tests.support.monitoring import DASHBOARD, ROOT, SKIP_REASON, dashboard_exprs, dashboard_panels, running_stack
from tests.support.net import free_port

DATASOURCES = ROOT / "monitoring" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
_NAME = re.compile(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b")


def exported() -> set[str]:
    """The metric names /metrics can export (metrics.py's collector, with a heartbeat age)."""
    return {family.name for family in StatusCollector([], scheduler_heartbeat_age=1.0).collect()}


def series_named(expr: str) -> set[str]:
    return {name for name in _NAME.findall(re.sub(r"\{[^}]*\}|\"[^\"]*\"", "", expr))
            if name.startswith("ny_taxi_") or name == "up"}


def test_every_panel_queries_the_provisioned_prometheus_datasource():
    [source] = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    panels = dashboard_panels()
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"], panel["title"]
        for ds in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
            assert ds == {"type": "prometheus", "uid": source["uid"]}, panel["title"]


def test_panels_show_exactly_the_series_metrics_py_exports():
    names = exported()
    assert "ny_taxi_month_failed" in names and "ny_taxi_scheduler_heartbeat_age_seconds" in names, sorted(names)
    shown = set()
    for title, expr in dashboard_exprs():
        used = series_named(expr)
        assert used and used <= names | {"up"}, (title, expr, sorted(used - names))
        shown |= used
    assert shown == names | {"up"}, sorted(names - shown)


def test_panels_do_not_overlap_on_the_grid():
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard_panels():
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, (panel["title"], cells[(x, y)])
                cells[(x, y)] = panel["title"]


@pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")
def test_every_panel_query_parses_in_a_real_prometheus(tmp_path: Path):
    """Nothing to scrape here (a port nobody listens on): each query must parse, not return data."""
    with running_stack(tmp_path / "monitoring", f"http://127.0.0.1:{free_port()}/taxi-loads/metrics") as stack:
        for title, expr in dashboard_exprs():
            answer = stack.query(expr)
            assert answer["status"] == "success", (title, expr, answer)
        bad = stack.query("ny_taxi_rows{")  # and a query that does not parse is refused (the check can fail)
        assert bad["status"] == "error" and bad["errorType"] == "bad_data", bad


def test_the_dashboard_file_is_the_one_the_compose_stack_provisions():
    provider = yaml.safe_load((ROOT / "monitoring" / "grafana" / "provisioning" / "dashboards" / "ny_taxi.yml")
                              .read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/etc/grafana/dashboards"
    assert DASHBOARD.parent.name == "dashboards"
