"""``make screenshots``: the manual's pictures of the UI (docs/ui/), taken from a real run.

It starts what the browser tests start -- a Postgres of its own (under ``.run/screenshots``), the
local Airflow (scripts/airflow_local.py) and a fixture server of generated months -- catches up
green 2019-01..2019-04 through the real scheduler, then drives headless Chromium (Debian's
``chromium`` + ``chromium-driver``) to each page and saves it under ``docs/ui/``, reduced to a
small palette so all of them stay a few hundred KB. Everything it started is stopped at the end.

Each picture shows a real state: the DAG list (with no dbt installed, as after `make venv` on a
fresh clone: no import-error banner, the API's import errors asserted to be none), a taxi DAG's graph, the trigger form, the backfill
dialog (with its run count), the grid after the catchup, a load log with its progress lines, and
the GCP DAG's graph, and the plugin's "Taxi loads" page (grid and charts; the analytics tab, over
dbt's mart, when ``.venv-dbt`` is installed). For that page yellow's catchup runs too: 2019-03 is a
corrupt file (failed, with its cause), 2019-04 is missing; green 2019-02 is re-loaded (unchanged).
Regenerate them when the UI they show changes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from taxi_pipeline.specs import GREEN, YELLOW  # noqa: E402
from tests.support import fake_tlc  # noqa: E402
from tests.support.browser import AirflowUI, chromium_driver, find_browser  # noqa: E402
from tests.support.e2e_airflow import running_airflow  # noqa: E402
from tests.support.http_server import Fault, FixtureServer  # noqa: E402
from tests.support.net import free_port  # noqa: E402

OUT = ROOT / "docs" / "ui"
WORK = ROOT / ".run" / "screenshots"
MONTHS = (1, 2, 3, 4)
ROWS = 40_000  # a month big enough for the log's MB figures
WIDTH, HEIGHT = 1280, 900  # the window; the page gets about 760 px of it
COLORS = 64  # the palette each PNG is reduced to


def save_png(ui: AirflowUI, name: str) -> Path:
    """The current page as ``docs/ui/<name>.png``, reduced to a small palette."""
    from PIL import Image

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    with tempfile.NamedTemporaryFile(suffix=".png") as raw:
        ui.driver.save_screenshot(raw.name)
        with Image.open(raw.name) as image:
            image.convert("RGB").quantize(colors=COLORS).save(path, optimize=True)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KB")
    return path


def show_graph(ui: AirflowUI, dag_id: str) -> None:
    """The DAG's graph, full width (details panel collapsed), fitted to the view."""
    ui.open(f"/dags/{dag_id}")
    ui.click("Show Graph (Press g)")
    ui.wait("the graph's nodes", lambda: len(ui.css(".react-flow__node")) >= 5)
    if ui.xpath("//button[@aria-label='Collapse Details Panel']"):
        ui.click("Collapse Details Panel")
    time.sleep(1)
    fit = ui.css(".react-flow__controls-fitview")
    if fit:
        fit[0].click()
    time.sleep(1.5)  # the layout animates into place


def show_grid(ui: AirflowUI, dag_id: str) -> None:
    """The DAG's grid (the UI remembers the last view: ask for the grid), details panel open."""
    ui.open(f"/dags/{dag_id}")
    ui.click("Show Grid (Press g)")
    if ui.xpath("//button[@aria-label='Expand Details Panel']"):
        ui.click("Expand Details Panel")


def scroll_to(ui: AirflowUI, element) -> None:
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    time.sleep(0.5)


def build_marts(airflow) -> bool:
    """dbt build of the project into the screenshot run's taxi DB (the analytics tab reads its mart);
    False without ``.venv-dbt``. The run's Airflow has no dbt, as after `make venv` (the DAG list)."""
    dbt = ROOT / ".venv-dbt" / "bin" / "dbt"
    if not dbt.exists():
        print("no .venv-dbt (make venv-dbt): the analytics tab is not pictured")
        return False
    project = ROOT / "dbt" / "taxi_rides_ny"
    env = {**os.environ, "DBT_PROFILES_DIR": str(project), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "NY_TAXI_PG_PORT": str(airflow.local.s.pg_port), "NY_TAXI_PG_DB": airflow.local.s.taxi_db}
    done = subprocess.run([str(dbt), "build", "--quiet", "--target-path", str(WORK / "dbt-target"),
                           "--log-path", str(WORK / "dbt-logs")], cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dbt build failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return True


def show_taxi_loads(ui: AirflowUI, airflow, with_analytics: bool) -> None:
    """The plugin's page in Airflow's UI, taller than the other pictures: cards, grid and charts."""
    ui.driver.set_window_size(WIDTH, 1500)
    try:
        ui.open_taxi_loads()
        ui.wait("the charts", lambda: len(ui.css("canvas")) >= 3)
        time.sleep(1)
        ui.driver.switch_to.default_content()
        save_png(ui, "taxi_loads")
        if with_analytics:
            ui.open_taxi_loads()
            ui.wait("the analytics tab", lambda: ui.css("#analytics-tab")[0]).click()
            ui.wait("the borough table", lambda: ui.css("[data-testid='borough-Manhattan']"))
            time.sleep(1)
            ui.driver.switch_to.default_content()
            save_png(ui, "taxi_loads_analytics")
    finally:
        ui.driver.switch_to.default_content()
        ui.driver.set_window_size(WIDTH, HEIGHT)


def take(ui: AirflowUI, airflow) -> None:
    user = airflow.local.s
    ui.login(user.user, user.password)

    errors = airflow.api("GET", "/importErrors")
    assert errors["total_entries"] == 0, f"the DAG list would show an import-error banner: {errors}"
    ui.open("/dags")
    ui.text_shown("postgres_taxi_yellow")
    ui.text_shown("dbt_taxi_postgres")
    labels = [b.get_attribute("aria-label") or "" for b in ui.css("button")]
    table_view = [label for label in labels if "list" in label.lower() or "table" in label.lower()]
    if table_view:  # the compact table: every DAG with its tags on one screen
        ui.click(table_view[0])
    else:
        print(f"no table-view button among {labels}: the card view is shown")
    time.sleep(1.5)
    save_png(ui, "dag_list")

    show_graph(ui, "postgres_taxi_green")
    save_png(ui, "taxi_graph")
    show_graph(ui, "gcp_taxi_green")
    save_png(ui, "gcp_graph")

    show_grid(ui, "postgres_taxi_green")
    ui.wait("the grid", lambda: ui.css("[data-testid^='grid-scheduled__2019-04']"))
    time.sleep(1)
    save_png(ui, "grid_after_catchup")

    ui.open_trigger_form("postgres_taxi_green")
    scroll_to(ui, ui.param_input("year"))
    save_png(ui, "trigger_form")

    ui.open_trigger_form("postgres_taxi_yellow")
    ui.choose_backfill("postgres_taxi_yellow")
    ui.set_backfill_date(0, "2019/01/01", "00:00")
    ui.set_backfill_date(1, "2019/02/28", "23:59")
    ui.text_shown("2 runs will be triggered.")
    ui.set_unpause_on_trigger("postgres_taxi_yellow", False)  # as docs/airflow.md advises for a paused DAG
    save_png(ui, "backfill_dialog")

    ui.open("/dags/postgres_taxi_green/runs/scheduled__2019-04-01T09:00:00+00:00/tasks/load_staging")
    ui.text_shown("downloaded", timeout=60)
    ui.text_shown("staged")
    time.sleep(1)
    save_png(ui, "load_log")

    airflow.set_paused("postgres_taxi_yellow", False)  # 2019-01..02 load, 03 is corrupt, 04 missing
    assert airflow.trigger("postgres_taxi_green", {"year": 2019, "month": 2})[0] == 200  # a re-load: unchanged
    yellow = airflow.wait_runs_done("postgres_taxi_yellow", len(MONTHS), timeout=600)
    airflow.wait_runs_done("postgres_taxi_green", len(MONTHS) + 1, timeout=300)
    print("yellow:", ", ".join(f"{r['logical_date'][:7]} {r['state']}" for r in yellow))
    show_taxi_loads(ui, airflow, with_analytics=build_marts(airflow))


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    found = find_browser()
    if isinstance(found, str):
        print(f"screenshots: {found}", file=sys.stderr)
        return 1
    shutil.rmtree(WORK, ignore_errors=True)  # a fresh Airflow home: task logs of an earlier run would show
    WORK.mkdir(parents=True)
    release = WORK / "release"
    files = {m: fake_tlc.write_month(release, GREEN, 2019, m, ROWS, seed=m) for m in MONTHS}
    for m in (1, 2):
        fake_tlc.write_month(release, YELLOW, 2019, m, 2_000, seed=m)
    corrupt = fake_tlc.write_month(release, YELLOW, 2019, 3, 2_000, seed=3).path
    corrupt.write_bytes(corrupt.read_bytes()[: corrupt.stat().st_size // 2])  # cut mid-stream: a bad gzip
    postgres = SimpleNamespace(env={"PG_DIR": str(WORK / "pg")}, port=free_port())
    local = None
    try:
        with FixtureServer(release) as server, running_airflow(
            name="screenshots", run_dir=WORK / "airflow", pg_server=postgres, source_url=server.base_url,
            window=("2019-01", "2019-04"),
            # As on a fresh clone after `make venv` only: no .venv-dbt. The dbt DAGs must still be
            # listed, with no import error (they render from the committed manifest).
            dag_env={"NY_TAXI_DBT_EXECUTABLE": str(WORK / "no-venv-dbt" / "bin" / "dbt")},
        ) as airflow:
            local = airflow.local
            # The last month stalls mid-body, longer than the loader's 5 s between progress lines.
            server.add_faults(files[4].url_path, Fault.stall(6, after_bytes=512 * 1024), method="GET")
            airflow.set_paused("postgres_taxi_green", False)
            runs = airflow.wait_runs_done("postgres_taxi_green", len(MONTHS), timeout=600)
            print("catchup:", ", ".join(f"{r['logical_date'][:7]} {r['state']}" for r in runs))
            with chromium_driver(WIDTH, HEIGHT) as driver:
                ui = AirflowUI(driver, airflow.local.s.base_url, artifacts=WORK / "failed")
                try:
                    take(ui, airflow)
                except BaseException:
                    print(airflow.diagnostics())
                    raise
    finally:
        if local is not None:
            local.pg("stop")
    total = sum(p.stat().st_size for p in OUT.glob("*.png"))
    print(f"{len(list(OUT.glob('*.png')))} pictures in {OUT.relative_to(ROOT)}, {total / 1024:.0f} KB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
