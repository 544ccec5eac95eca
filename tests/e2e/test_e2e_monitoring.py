"""A month that fails to load becomes an alert: a real Airflow, the plugin's /taxi-loads/metrics,
Debian's Prometheus with monitoring/prometheus/rules.yml, and Alertmanager (scripts/monitoring_local.py).

One Airflow serves the module, window 2019-01..2019-02 of green from the fixture server: 2019-01
is a good file, 2019-02 has a renamed column (``fare_amount`` -> ``fare``), which load_staging
refuses at once. Unpausing the DAG catches up both months; then 2019-02 is triggered again
through the REST API as the UI's Trigger form does (``{"year": 2019, "month": 2}``), and fails
again: the alert must name that newest run.
Prometheus scrapes every 5 s with the token the plugin asks for (NY_TAXI_METRICS_TOKEN set);
the test waits until Alertmanager's ``/api/v2/alerts`` holds NyTaxiLoadFailed for taxi=green,
month=2019-02, and then runs every panel query of the Grafana dashboard against that Prometheus:
each must parse and return its series.

Debian's Alertmanager ships without its web UI (its page says so; the UI is an Elm build Debian
does not package), so the screenshot of the firing alert is Prometheus's own alerts page
(``/classic/alerts``): saved in the module's run folder always, and as docs/ui/alert_firing.png
with NY_TAXI_SCREENSHOTS=1 (scripts/screenshots.py's palette reduction).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from taxi_pipeline.specs import GREEN
from tests.support import fake_tlc
from tests.support.browser import chromium_driver, find_browser
from tests.support.e2e_airflow import E2EAirflow, call_failed, running_airflow
from tests.support.http_server import FixtureServer
from tests.support.monitoring import ROOT, SKIP_REASON, Stack, dashboard_exprs, running_stack
from tests.support.net import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")]

DAG_ID = "postgres_taxi_green"
GOOD, BAD = (2019, 1), (2019, 2)
TOKEN = "e2e-metrics-token"


@pytest.fixture(scope="module")
def release(e2e_dir: Path) -> dict[tuple[int, int], fake_tlc.MonthFile]:
    files = {month: fake_tlc.write_month(e2e_dir / "release", GREEN, *month, 1_500, seed=month[1]) for month in (GOOD, BAD)}
    bad = files[BAD].path  # the header names fare_amount "fare": the spec's column check fails the load
    import gzip

    text = gzip.decompress(bad.read_bytes()).decode("ascii")
    header, rest = text.split("\r\n", 1)
    bad.write_bytes(gzip.compress((header.replace("fare_amount", "fare") + "\r\n" + rest).encode("ascii"), mtime=0))
    return files


@pytest.fixture(scope="module")
def server(e2e_dir: Path, release) -> FixtureServer:
    with FixtureServer(e2e_dir / "release") as server:
        yield server


@pytest.fixture(scope="module")
def airflow(pg_server, e2e_dir: Path, server: FixtureServer) -> E2EAirflow:
    with running_airflow(
        name="monitoring", run_dir=e2e_dir / "airflow", pg_server=pg_server, source_url=server.base_url,
        window=("2019-01", "2019-02"), dag_env={"NY_TAXI_METRICS_TOKEN": TOKEN, "NY_TAXI_MAX_ACTIVE_RUNS": "2"},
    ) as airflow:
        yield airflow


@pytest.fixture(scope="module")
def stack(airflow: E2EAirflow, e2e_dir: Path) -> Stack:
    url = f"{airflow.local.s.base_url}/taxi-loads/metrics"
    with running_stack(e2e_dir / "monitoring", url, metrics_token=TOKEN) as stack:
        yield stack


@pytest.fixture(autouse=True)
def _print_monitoring_logs_on_failure(request: pytest.FixtureRequest):
    yield
    if call_failed(request) and "stack" in request.fixturenames:
        print(request.getfixturevalue("stack").log_tails())


@pytest.fixture(scope="module")
def loaded(airflow: E2EAirflow, stack: Stack) -> dict[str, str]:
    """The window's catchup (unpaused: 2019-01 loads, 2019-02 fails), then 2019-02 again through the
    REST API as the Trigger form sends it: month -> state of each scheduled run, ``manual`` -> the
    triggered run's id (the newest run of 2019-02, which the alert must name)."""
    airflow.set_paused(DAG_ID, False)
    runs = airflow.wait_runs_done(DAG_ID, 2, timeout=300, select=lambda r: r["run_type"] == "scheduled")
    states = {run["logical_date"][:7]: run["state"] for run in runs}
    status, run = airflow.trigger(DAG_ID, {"year": BAD[0], "month": BAD[1]})
    assert status == 200, run
    [done] = airflow.wait_runs_done(DAG_ID, 1, timeout=180, select=lambda r: r["dag_run_id"] == run["dag_run_id"])
    return {**states, "manual": done["dag_run_id"], "manual_state": done["state"]}


@pytest.fixture(scope="module")
def firing(loaded, stack: Stack) -> dict:
    """Alertmanager's NyTaxiLoadFailed alert for green 2019-02 naming the triggered run (waited for)."""
    started = time.monotonic()
    [alert] = stack.wait_for(
        f"NyTaxiLoadFailed{{taxi=green, month=2019-02, run_id={loaded['manual']}}} in Alertmanager",
        lambda: stack.alerts(alertname="NyTaxiLoadFailed", taxi="green", month="2019-02", run_id=loaded["manual"]),
        timeout=90)
    print(f"NyTaxiLoadFailed for the triggered run in Alertmanager {time.monotonic() - started:.1f} s after it failed")
    return alert


def test_metrics_need_the_token_and_prometheus_sends_it(airflow: E2EAirflow, stack: Stack):
    url = f"{airflow.local.s.base_url}/taxi-loads/metrics"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    assert refused.value.code == 401
    [target] = stack.wait_for("the first scrape", lambda: [t for t in stack.targets() if t["health"] != "unknown"],
                              timeout=60)
    assert (target["labels"]["job"], target["scrapeUrl"], target["health"]) == ("ny_taxi", url, "up"), target


def test_a_month_whose_load_failed_fires_NyTaxiLoadFailed_in_alertmanager(loaded, firing, stack: Stack):
    assert loaded == {"2019-01": "success", "2019-02": "failed", "manual": loaded["manual"], "manual_state": "failed"}
    labels = firing["labels"]
    assert {k: labels[k] for k in ("alertname", "severity", "target", "taxi", "month", "dag_id", "job")} == {
        "alertname": "NyTaxiLoadFailed", "severity": "page", "target": "postgres", "taxi": "green",
        "month": "2019-02", "dag_id": DAG_ID, "job": "ny_taxi"}
    assert firing["status"]["state"] == "active"
    assert firing["annotations"]["summary"] == "green 2019-02: the load failed (postgres)"
    assert "fare" in firing["annotations"]["description"], firing["annotations"]  # the failure's one line
    assert f"DAG {DAG_ID}, run {labels['run_id']}" in firing["annotations"]["description"]
    # The good month fires nothing; nor does any other rule (the scheduler beats, /metrics answers).
    names = {(a["labels"]["alertname"], a["labels"].get("month")) for a in stack.alerts()}
    assert ("NyTaxiLoadFailed", "2019-01") not in names
    assert {n for n, _ in names} <= {"NyTaxiLoadFailed"}, names
    _screenshot(stack)


def test_every_dashboard_panel_query_returns_its_series(firing, stack: Stack):
    """After a good and a failed month: each panel shows something, and the failing-months table
    shows the failed one."""
    empty = []
    for title, expr in dashboard_exprs():
        answer = stack.query(expr)
        assert answer["status"] == "success", (title, expr, answer)
        if not answer["data"]["result"]:
            empty.append((title, expr))
    assert not empty, f"panels with no series: {empty}"
    rows = stack.query("ny_taxi_month_failed or ny_taxi_month_quality_failed")["data"]["result"]
    assert [(r["metric"]["__name__"], r["metric"]["taxi"], r["metric"]["month"]) for r in rows] == [
        ("ny_taxi_month_failed", "green", "2019-02")]
    [loaded_months] = stack.query('ny_taxi_months_loaded{target="postgres",taxi="green"}')["data"]["result"]
    assert loaded_months["value"][1] == "1"


def test_alertmanager_runs_alone_on_127_0_0_1(stack: Stack):
    status = stack._get(f"{stack.alertmanager_url}/api/v2/status")[1]
    assert status["cluster"]["status"] == "disabled"  # no gossip listener on 0.0.0.0:9094
    for url in (stack.prometheus_url, stack.alertmanager_url):
        assert url.startswith("http://127.0.0.1:")


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


def _monitoring_up(run_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "monitoring_local.py"), "up"],
                          env={**os.environ, "MONITORING_DIR": str(run_dir), **env},
                          capture_output=True, text=True, timeout=60)


def _screenshot(stack: Stack) -> None:
    """Prometheus's alerts page with NyTaxiLoadFailed open: the run folder's copy always, the
    manual's (docs/ui/alert_firing.png) with NY_TAXI_SCREENSHOTS=1."""
    if isinstance(find_browser(), str):
        print(f"no screenshot of the alert: {find_browser()}")
        return
    artifacts = stack.local.run_dir / "artifacts"
    artifacts.mkdir(exist_ok=True)
    with chromium_driver(width=1280, height=940) as driver:
        driver.get(f"{stack.prometheus_url}/classic/alerts")
        from selenium.webdriver.common.by import By

        deadline = time.monotonic() + 30
        while not driver.find_elements(By.XPATH, "//*[contains(text(), 'NyTaxiLoadFailed')]"):
            assert time.monotonic() < deadline, "Prometheus's alerts page shows no NyTaxiLoadFailed"
            time.sleep(0.5)
            driver.refresh()
        driver.find_element(By.XPATH, "//*[contains(text(), 'NyTaxiLoadFailed')]").click()  # unfolds the rule
        time.sleep(1)
        driver.save_screenshot(str(artifacts / "alert_firing.png"))
        if os.environ.get("NY_TAXI_SCREENSHOTS") == "1":
            from scripts.screenshots import save_png

            shutil.copy(save_png(SimpleNamespace(driver=driver), "alert_firing"), artifacts / "alert_firing.small.png")
    print(f"screenshot: {artifacts / 'alert_firing.png'}")
