"""``make monitoring-up``'s expected failures (scripts/monitoring_local.py): each is one line on
stderr with its cause and fix, exit 1, nothing on stdout. Its success path runs end to end in
tests/e2e/test_e2e_browser.py (Prometheus and Alertmanager watching a real Airflow)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.monitoring import ROOT, SKIP_REASON
from tests.support.net import free_port

pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")


def _monitoring_up(run_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "monitoring_local.py"), "up"],
                          env={**os.environ, "MONITORING_DIR": str(run_dir), **env},
                          capture_output=True, text=True, timeout=60)


def test_monitoring_up_says_in_one_line_that_a_port_is_taken(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _monitoring_up(tmp_path, MONITORING_PROMETHEUS_PORT=str(port), MONITORING_ALERTMANAGER_PORT=str(free_port()))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (f"monitoring_local: prometheus: 127.0.0.1:{port} is in use (Address already in use); "
                           "stop what listens there or set MONITORING_PROMETHEUS_PORT\n")


def test_monitoring_up_names_the_packages_when_the_binaries_are_missing(tmp_path: Path):
    done = _monitoring_up(tmp_path, PATH=str(tmp_path))  # a PATH with neither binary
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == ("monitoring_local: needs prometheus and prometheus-alertmanager: apt-get install prometheus "
                           "prometheus-alertmanager (Debian's packages; the compose stack has its own images)\n")


def test_monitoring_up_refuses_a_scrape_url_without_a_host(tmp_path: Path):
    done = _monitoring_up(tmp_path, MONITORING_SCRAPE_URL="http:///taxi-loads/metrics")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == ("monitoring_local: the scrape URL must be http(s)://host:port/path, got "
                           "'http:///taxi-loads/metrics': set MONITORING_SCRAPE_URL (or AIRFLOW_LOCAL_PORT)\n")
