"""The local Prometheus + Alertmanager (scripts/monitoring_local.py) for tests, and what tests ask them.

:func:`running_stack` starts both on free ports scraping a given URL, tied to the test process
(``SUPERVISE_PARENT_PID``: a killed session leaves neither running), and stops them on exit.
:class:`Stack` has the HTTP calls the tests make -- an instant PromQL query, Alertmanager's
``/api/v2/alerts`` -- and a bounded wait. :func:`dashboard_exprs` lists every panel query of the
Grafana dashboard. ``SKIP_REASON`` is None when Debian's binaries are installed, else the one line
naming the packages that tests skip with.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from scripts.monitoring_local import LocalMonitoring, missing_binaries, running_monitoring
from tests.support.net import free_port

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "monitoring" / "grafana" / "dashboards" / "ny_taxi.json"
SKIP_REASON = missing_binaries()


def dashboard_panels() -> list[dict[str, Any]]:
    return json.loads(DASHBOARD.read_text())["panels"]


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel, in the dashboard's order."""
    return [(panel["title"], target["expr"]) for panel in dashboard_panels() for target in panel["targets"]]


class Stack:
    def __init__(self, local: LocalMonitoring) -> None:
        self.local = local
        self.prometheus_url = local.s.prometheus_url
        self.alertmanager_url = local.s.alertmanager_url

    @staticmethod
    def _get(url: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def query(self, expr: str) -> dict[str, Any]:
        """Prometheus's answer to an instant query (``status``, ``data.result``, or ``error``)."""
        return self._get(f"{self.prometheus_url}/api/v1/query?{urlencode({'query': expr})}")[1]

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """Alertmanager's alerts whose labels include ``labels``."""
        _, alerts = self._get(f"{self.alertmanager_url}/api/v2/alerts")
        return [a for a in alerts if all(a["labels"].get(k) == v for k, v in labels.items())]

    def targets(self) -> list[dict[str, Any]]:
        return self._get(f"{self.prometheus_url}/api/v1/targets")[1]["data"]["activeTargets"]

    def wait_for(self, what: str, check: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
        """Poll ``check`` until it returns something truthy; fail naming ``what`` (and the scrape's
        last error, the usual cause) after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                scrapes = [(t["scrapeUrl"], t["health"], t.get("lastError")) for t in self.targets()]
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; scrapes: {scrapes}")
            time.sleep(every)

    def log_tails(self, lines: int = 30) -> str:
        out = []
        for name in ("alertmanager", "prometheus"):
            path = self.local.procs.log_path(name)
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"---- last {len(tail)} lines of {path} ----\n" + "\n".join(tail))
        return "\n".join(out)


@contextmanager
def running_stack(run_dir: Path, scrape_url: str, *, metrics_token: str = "",
                  env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """Prometheus + Alertmanager on free ports on 127.0.0.1, scraping ``scrape_url``."""
    with running_monitoring(
        run_dir, scrape_url, prometheus_port=free_port(), alertmanager_port=free_port(), metrics_token=metrics_token,
        env={"SUPERVISE_PARENT_PID": str(os.getpid()), **(env or {})}, say=lambda line: print(f"[monitoring] {line}"),
    ) as local:
        yield Stack(local)
