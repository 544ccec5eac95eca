"""The UI, in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``) through
Selenium, against the project's local Airflow (api-server, scheduler, dag-processor on 127.0.0.1)
reading generated months from a fixture server.

What a user does, click by click: log in; open ``postgres_taxi_green`` and Trigger with the form
untouched (its Year/Month are pre-filled with the latest month of the window, so the first click
loads a month); type 2019 and 2; type Month 13 (the form shows the API's validation error, no
run is created); on ``postgres_taxi_yellow``, a Backfill over two months with "Missing Runs"
(both runs succeed and show in the grid); open a ``load_staging`` log (progress and summary lines);
open Browse > Taxi loads (the plugin's page: each month's cell, a click opens its run), which
without the login answers 401 (403 with a bad token).

Then Prometheus + Alertmanager (scripts/monitoring_local.py, what ``make monitoring-up`` runs)
scrape this Airflow's ``/taxi-loads/metrics`` with the token it asks for (NY_TAXI_METRICS_TOKEN):
yellow 2019-03, which catchup loads once the backfill test unpauses yellow, has a renamed column
(``fare_amount`` -> ``fare``) and fails; Alertmanager's ``/api/v2/alerts`` must hold
NyTaxiLoadFailed for taxi=yellow, month=2019-03, and every panel query of the Grafana dashboard
must return its series. Those tests share this module's Airflow rather than starting their own:
an Airflow's start and catchup cost about two minutes of a serial end-to-end suite.
Debian's Alertmanager ships without its web UI (the UI is an Elm build Debian does not package), so
the picture of the firing alert is Prometheus's alerts page: in the run folder always, and as
docs/ui/alert_firing.png with NY_TAXI_SCREENSHOTS=1. Without Debian's prometheus and
prometheus-alertmanager those tests skip, naming the packages.

The window is 2019-01..2019-03. "Unpause on trigger" (ticked by default) lets green's catchup run
too: its scheduled runs load the same months as the manual ones, and every file's rows must still
be there exactly once. Yellow 2019-01 stalls 6 s mid-body, so its load logs a progress line.

The tests share one Airflow and run in order. A failing test saves a screenshot and the page's
HTML next to the component logs (the run directory printed with them). Without the browser, the
module skips with one line naming the packages.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from taxi_pipeline.specs import GREEN, YELLOW, get_spec
from tests.support import fake_tlc
from tests.support.browser import AirflowUI, chromium_driver, find_browser
from tests.support.e2e_airflow import E2EAirflow, call_failed, running_airflow
from tests.support.http_server import Fault, FixtureServer
from tests.support.monitoring import SKIP_REASON as NO_MONITORING, Stack, dashboard_exprs, running_stack

BROWSER = find_browser()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(isinstance(BROWSER, str), reason=str(BROWSER))]

WINDOW = ("2019-01", "2019-03")
ROWS = {1: 1_500, 2: 1_200, 3: 1_000}
LOGGED_MONTH_ROWS = 30_000  # yellow 2019-01, the log the last test opens: big enough to show MB
STALL_SECONDS = 6  # longer than the loader's 5 s between progress lines
STALL_AFTER = 256 * 1024
GREEN_DAG, YELLOW_DAG = "postgres_taxi_green", "postgres_taxi_yellow"
RUN_TIMEOUT = 240
BAD = ("yellow", 3)  # a renamed column: its catchup run fails, and the alert must name it
METRICS_TOKEN = "e2e-metrics-token"
monitoring = pytest.mark.skipif(NO_MONITORING is not None, reason=NO_MONITORING or "")


@pytest.fixture(scope="module")
def release(e2e_dir: Path) -> dict[tuple[str, int], fake_tlc.MonthFile]:
    files = {
        (spec.taxi, month): fake_tlc.write_month(
            e2e_dir / "release", spec, 2019, month, LOGGED_MONTH_ROWS if (spec, month) == (YELLOW, 1) else rows, seed=month)
        for spec in (GREEN, YELLOW) for month, rows in ROWS.items()
    }
    fake_tlc.rename_header_column(files[BAD].path, "fare_amount", "fare")
    return files


@pytest.fixture(scope="module")
def airflow(pg_server, e2e_dir: Path, release) -> E2EAirflow:
    with FixtureServer(e2e_dir / "release") as server, running_airflow(
        name="browser", run_dir=e2e_dir / "airflow", pg_server=pg_server, source_url=server.base_url, window=WINDOW,
        dag_env={"NY_TAXI_METRICS_TOKEN": METRICS_TOKEN},
    ) as airflow:
        logged = release[("yellow", 1)].url_path
        server.add_faults(logged, Fault.stall(STALL_SECONDS, after_bytes=STALL_AFTER), method="GET")
        yield airflow


@pytest.fixture(scope="module")
def browser_ui(airflow: E2EAirflow) -> AirflowUI:
    with chromium_driver() as driver:
        yield AirflowUI(driver, airflow.local.s.base_url, artifacts=airflow.local.run_dir)


@pytest.fixture
def ui(browser_ui: AirflowUI, request: pytest.FixtureRequest) -> AirflowUI:
    yield browser_ui
    if call_failed(request):
        saved = browser_ui.save(f"browser-{request.node.name}")
        print(f"the page at the failure: {saved}.png and {saved}.html")


@pytest.fixture(scope="module")
def failed_run(airflow: E2EAirflow) -> dict:
    """Yellow 2019-03's catchup run (the backfill test unpauses yellow), finished: it must fail."""
    [run] = airflow.wait_runs_done(YELLOW_DAG, 1, RUN_TIMEOUT, select=lambda r: r["run_type"] == "scheduled"
                                   and r["logical_date"].startswith("2019-03"))
    assert run["state"] == "failed", airflow.task_instances(YELLOW_DAG, run["dag_run_id"])
    return run


@pytest.fixture(scope="module")
def stack(airflow: E2EAirflow, e2e_dir: Path) -> Stack:
    with running_stack(e2e_dir / "monitoring", f"{airflow.local.s.base_url}/taxi-loads/metrics",
                       metrics_token=METRICS_TOKEN) as stack:
        yield stack


@pytest.fixture(autouse=True)
def _print_monitoring_logs_on_failure(request: pytest.FixtureRequest):
    yield
    if call_failed(request) and "stack" in request.fixturenames:
        print(request.getfixturevalue("stack").log_tails())


def expected_rows(release, taxi: str, months) -> dict[str, int]:
    return {get_spec(taxi).filename(2019, m): release[(taxi, m)].data_lines for m in months}


def manual_runs(airflow: E2EAirflow, dag_id: str) -> list[dict]:
    return [r for r in airflow.runs(dag_id) if r["run_type"] == "manual"]


def wait_new_manual_run(airflow: E2EAirflow, dag_id: str, known: int) -> dict:
    """The manual run created after ``known`` of them existed, once it has finished."""

    def finished():
        runs = manual_runs(airflow, dag_id)
        return runs[known] if len(runs) > known and runs[known]["state"] in ("success", "failed") else None

    return airflow.wait_for(f"manual run #{known + 1} of {dag_id} to finish", finished, RUN_TIMEOUT)


def test_login_shows_the_taxi_dags_with_their_tags(ui: AirflowUI, airflow: E2EAirflow):
    ui.login(airflow.local.s.user, airflow.local.s.password)
    ui.open("/dags")
    for dag_id in (GREEN_DAG, YELLOW_DAG, "gcp_taxi_green", "dbt_taxi_postgres"):
        ui.text_shown(dag_id)
    tags = ui.wait("the DAG tags", lambda: {t.text for t in ui.css("a[href*='/dags?tags=']")} or None)
    assert {"ny_taxi", "postgres", "green", "yellow"} <= tags


def test_an_untouched_form_one_click_loads_the_latest_month(ui: AirflowUI, airflow: E2EAirflow, release):
    assert airflow.dag(GREEN_DAG)["is_paused"] is True and airflow.runs(GREEN_DAG) == []
    ui.open_trigger_form(GREEN_DAG)
    # The form shows Year and Month with their descriptions, pre-filled with the window's last month.
    ui.text_shown("pre-filled with the latest, 2019-03")
    ui.text_shown("1-12, with Year.")
    assert (ui.param_input("year").get_attribute("value"), ui.param_input("month").get_attribute("value")) == ("2019", "3")
    ui.submit_trigger()  # one click; "Unpause postgres_taxi_green on trigger" is ticked by default
    ui.text_shown("Dag run has been successfully triggered.")

    run = wait_new_manual_run(airflow, GREEN_DAG, known=0)
    assert run["state"] == "success", airflow.task_instances(GREEN_DAG, run["dag_run_id"])
    resolved = airflow.xcom(GREEN_DAG, run["dag_run_id"], "wait_for_file", "run")
    assert (resolved["year"], resolved["month"], resolved["origin"]) == (2019, 3, "params")
    assert airflow.rows_per_file("green")[GREEN.filename(2019, 3)] == release[("green", 3)].data_lines


def test_the_form_loads_the_month_typed_in(ui: AirflowUI, airflow: E2EAirflow, release):
    ui.open_trigger_form(GREEN_DAG)
    ui.fill(ui.param_input("year"), "2019")
    ui.fill(ui.param_input("month"), "2")
    ui.submit_trigger()

    run = wait_new_manual_run(airflow, GREEN_DAG, known=1)
    assert run["state"] == "success", airflow.task_instances(GREEN_DAG, run["dag_run_id"])
    resolved = airflow.xcom(GREEN_DAG, run["dag_run_id"], "wait_for_file", "run")
    assert (resolved["year"], resolved["month"]) == (2019, 2)
    # Catchup (unpaused by the first trigger) loads 2019-01..03 too: every file exactly once.
    airflow.wait_runs_done(GREEN_DAG, 5, RUN_TIMEOUT)  # 3 scheduled + 2 manual
    assert airflow.rows_per_file("green") == expected_rows(release, "green", ROWS)


def test_month_13_shows_the_validation_error_and_creates_no_run(ui: AirflowUI, airflow: E2EAirflow):
    before = airflow.runs(GREEN_DAG)
    ui.open_trigger_form(GREEN_DAG)
    month = ui.param_input("month")
    ui.fill(month, "13")
    ui.css("input[name=element_source]")[0].click()  # leave the field: 13 must stay 13, not be clamped
    assert month.get_attribute("value") == "13"
    ui.submit_trigger()
    ui.text_shown("Invalid input for param month: 13 is greater than or equal to the maximum of 13")
    ui.text_shown("Failed to Trigger Dag")
    time.sleep(2)  # a run created by the click would be listed by now
    assert airflow.runs(GREEN_DAG) == before


def test_a_backfill_of_two_missing_months_runs_both_and_shows_them_in_the_grid(ui: AirflowUI, airflow: E2EAirflow,
                                                                             release):
    assert airflow.dag(YELLOW_DAG)["is_paused"] is True and airflow.runs(YELLOW_DAG) == []
    ui.open_trigger_form(YELLOW_DAG)
    ui.choose_backfill(YELLOW_DAG)
    ui.set_backfill_date(0, "2019/01/01", "00:00")
    ui.set_backfill_date(1, "2019/02/28", "23:59")
    ui.text_shown("2 runs will be triggered.")
    assert ui.driver.find_element("css selector", "input[type=radio][value=none]").is_selected()  # Missing Runs
    # Unpausing in the same click races catchup for the backfill's first month: the scheduler can
    # die on dag_run_dag_id_logical_date_key (seen here). So: backfill paused, then unpause.
    ui.set_unpause_on_trigger(YELLOW_DAG, False)
    ui.click("Run Backfill", within="//*[@role='dialog']")
    ui.text_shown("Backfill jobs have been successfully triggered.")
    airflow.wait_for("the backfill's 2 runs", lambda: len(airflow.runs(YELLOW_DAG)) == 2 or None, 30)
    ui.open(f"/dags/{YELLOW_DAG}")
    ui.wait("the pause toggle", lambda: ui.css("[data-testid=toggle-pause]")[0]).click()
    airflow.wait_for("the DAG unpaused", lambda: not airflow.dag(YELLOW_DAG)["is_paused"] or None, 30)

    runs = airflow.wait_runs_done(YELLOW_DAG, 2, RUN_TIMEOUT, select=lambda r: r["run_type"] == "backfill")
    assert [(r["logical_date"], r["state"]) for r in runs] == [
        ("2019-01-01T10:00:00Z", "success"), ("2019-02-01T10:00:00Z", "success")]
    assert {k: v for k, v in airflow.rows_per_file("yellow").items() if k != YELLOW.filename(2019, 3)} == \
        expected_rows(release, "yellow", (1, 2))
    ui.open(f"/dags/{YELLOW_DAG}")
    for run in runs:
        ui.wait(f"the grid column of {run['dag_run_id']}",
                lambda run=run: ui.css(f"[data-testid='grid-{run['dag_run_id']}-load_staging']"))


def test_a_load_staging_log_shows_the_progress_and_summary_lines(ui: AirflowUI, airflow: E2EAirflow, release):
    rows, mb = release[("yellow", 1)].data_lines, release[("yellow", 1)].gz_bytes / 1e6
    ui.open(f"/dags/{YELLOW_DAG}/runs/backfill__2019-01-01T10:00:00+00:00/tasks/load_staging")
    # The progress line, logged after the stall: how far depends on what the stall let through.
    progress = re.compile(rf"yellow 2019-01: [\d.]+/{mb:.1f} MB \(\d+%\) downloaded, [\d.]+ MB csv, [\d,]+ rows, [\d,]+ rows/s")
    ui.wait("the progress line", lambda: progress.search(ui.driver.find_element("tag name", "body").text), timeout=60)
    ui.text_shown(f"yellow 2019-01: staged {rows:,} rows")  # the summary line


def test_the_taxi_loads_page_and_its_api_answer_401_or_403_without_the_login(airflow: E2EAirflow):
    base = airflow.local.s.base_url
    for path in ("/taxi-loads/", "/taxi-loads/api/status", "/taxi-loads/api/analytics"):
        for headers, code in (({}, 401), ({"Authorization": "Bearer not-a-token"}, 403)):  # as Airflow's own API
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=30)
            assert refused.value.code == code, (path, headers)
    token = airflow.local.token()
    for query, says in (("from=2019-13", "from: month must be 01..12"), ("to=2018-12", "to: 2018-12 is outside")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{base}/taxi-loads/api/status?{query}",
                                                          headers={"Authorization": f"Bearer {token}"}), timeout=30)
        assert refused.value.code == 422 and says in json.loads(refused.value.read())["detail"]


def test_the_taxi_loads_page_shows_the_months_loaded_and_opens_a_run(ui: AirflowUI, airflow: E2EAirflow, release,
                                                                      failed_run):
    ui.open_taxi_loads()  # the nav's Browse > Taxi loads: the plugin's page inside Airflow's UI
    cells = {(taxi, m): ui.css(f"[data-testid='cell-{taxi}-2019-{m:02d}']")[0]
             for taxi, months in (("green", (1, 2, 3)), ("yellow", (1, 2))) for m in months}
    # green 2019-02 and 03 were loaded twice (a manual run and catchup): the second inserted nothing.
    expected = {("green", 1): "loaded", ("green", 2): "unchanged", ("green", 3): "unchanged",
                ("yellow", 1): "loaded", ("yellow", 2): "loaded"}
    assert {key: cell.get_attribute("data-state") for key, cell in cells.items()} == expected
    assert {key: cell.text for key, cell in cells.items()} == {
        (taxi, m): f"{release[(taxi, m)].data_lines:,}" for taxi, m in cells}
    assert ui.css("[data-testid='summary-green'] dd")[0].text == "3"  # months loaded
    failed = ui.css("[data-testid='cell-yellow-2019-03']")[0]  # the failure's one line, from the run's note
    assert (failed.get_attribute("data-state"), failed.text) == ("failed", "failed")
    assert ("yellow 2019-03: failed - yellow 2019-03: load_staging failed: yellow_tripdata_2019-03.csv.gz: columns do "
            "not match the yellow spec: missing ['fare_amount']; unexpected ['fare']") in failed.get_attribute("title")
    assert len(ui.css("#chart-rows canvas")) == 1 and len(ui.css("#chart-seconds canvas")) == 1

    run_id = ui.css("[data-testid='cell-yellow-2019-02'] a")[0].get_attribute("href").rsplit("/", 1)[1]
    ui.css("[data-testid='cell-yellow-2019-02'] a")[0].click()
    ui.driver.switch_to.default_content()
    ui.wait("the run's page", lambda: f"/dags/{YELLOW_DAG}/runs/{run_id}" in ui.driver.current_url)
    ui.text_shown(urllib.parse.unquote(run_id))
    ui.text_shown("yellow 2019-02:")  # the run's note, the month's one line


@monitoring
def test_metrics_need_the_token_and_prometheus_sends_it(airflow: E2EAirflow, stack: Stack):
    url = f"{airflow.local.s.base_url}/taxi-loads/metrics"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    assert refused.value.code == 401
    [target] = stack.wait_for("the first scrape", lambda: [t for t in stack.targets() if t["health"] != "unknown"],
                              timeout=60)
    assert (target["labels"]["job"], target["scrapeUrl"], target["health"]) == ("ny_taxi", url, "up"), target


@monitoring
def test_a_month_whose_load_failed_fires_NyTaxiLoadFailed_in_alertmanager(ui: AirflowUI, failed_run, stack: Stack):
    started = time.monotonic()
    [alert] = stack.wait_for(
        "NyTaxiLoadFailed{taxi=yellow, month=2019-03} in Alertmanager",
        lambda: stack.alerts(alertname="NyTaxiLoadFailed", taxi="yellow", month="2019-03",
                             run_id=failed_run["dag_run_id"]), timeout=90)
    print(f"NyTaxiLoadFailed in Alertmanager {time.monotonic() - started:.1f} s after the stack started")
    labels = alert["labels"]
    assert {k: labels[k] for k in ("alertname", "severity", "target", "taxi", "month", "dag_id", "job")} == {
        "alertname": "NyTaxiLoadFailed", "severity": "page", "target": "postgres", "taxi": "yellow",
        "month": "2019-03", "dag_id": YELLOW_DAG, "job": "ny_taxi"}
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["summary"] == "yellow 2019-03: the load failed (postgres)"
    assert "unexpected ['fare']" in alert["annotations"]["description"], alert["annotations"]  # the failure's line
    # No other month fails; nor does any other rule fire (the scheduler beats, /metrics answers).
    assert {(a["labels"]["alertname"], a["labels"].get("month")) for a in stack.alerts()} == {
        ("NyTaxiLoadFailed", "2019-03")}
    _picture_the_alert(ui, stack)


@monitoring
def test_every_dashboard_panel_query_returns_its_series(failed_run, stack: Stack):
    empty = []
    for title, expr in dashboard_exprs():
        answer = stack.query(expr)
        assert answer["status"] == "success", (title, expr, answer)
        if not answer["data"]["result"]:
            empty.append((title, expr))
    assert not empty, f"panels with no series: {empty}"
    rows = stack.query("ny_taxi_month_failed or ny_taxi_month_quality_failed")["data"]["result"]
    assert [(r["metric"]["__name__"], r["metric"]["taxi"], r["metric"]["month"]) for r in rows] == [
        ("ny_taxi_month_failed", "yellow", "2019-03")]
    [green] = stack.query('ny_taxi_months_loaded{target="postgres",taxi="green"}')["data"]["result"]
    assert green["value"][1] == "3"


@monitoring
def test_alertmanager_runs_alone_on_127_0_0_1(stack: Stack):
    status = stack._get(f"{stack.alertmanager_url}/api/v2/status")[1]
    assert status["cluster"]["status"] == "disabled"  # no gossip listener on 0.0.0.0:9094
    for url in (stack.prometheus_url, stack.alertmanager_url):
        assert url.startswith("http://127.0.0.1:")


def _picture_the_alert(ui: AirflowUI, stack: Stack) -> None:
    """Prometheus's alerts page with NyTaxiLoadFailed open: in the run folder always, as the
    manual's docs/ui/alert_firing.png with NY_TAXI_SCREENSHOTS=1."""
    ui.driver.switch_to.default_content()
    ui.driver.get(f"{stack.prometheus_url}/classic/alerts")
    rule = "//*[contains(text(), 'NyTaxiLoadFailed')]"
    ui.wait("NyTaxiLoadFailed on Prometheus's alerts page", lambda: ui.xpath(rule) or ui.driver.refresh())
    ui.xpath(rule)[0].click()  # unfolds the rule and its firing series
    time.sleep(1)
    print(f"the firing alert: {ui.save('alert_firing')}.png")
    if os.environ.get("NY_TAXI_SCREENSHOTS") == "1":
        from scripts.screenshots import save_png

        save_png(ui, "alert_firing")
