"""Headless Chromium on the Airflow UI, through Selenium and Debian's ``chromium`` + ``chromium-driver``.

Selenium drives the system browser through the system driver; nothing is downloaded (Selenium
Manager is never asked: both paths are given). :func:`find_browser` says what is missing, in one
line naming the packages, so the browser tests can skip with it. :class:`AirflowUI` holds the
waits every page step needs; each is bounded and names what it waited for.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
INSTALL_HINT = "apt-get install chromium chromium-driver"


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why the browser tests cannot run (a one-line reason)."""
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    if missing:
        return f"no {' or '.join(missing)} on PATH: {INSTALL_HINT}"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed: make venv-dev"
    return chromium, driver


@contextmanager
def chromium_driver(width: int = 1280, height: int = 860, scale: float = 1.0) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_browser()
    if isinstance(found, str):
        raise RuntimeError(found)
    chromium, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", f"--force-device-scale-factor={scale}",
                "--disable-extensions", "--no-first-run", "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


class AirflowUI:
    """Page steps on one Airflow UI; ``artifacts`` gets a screenshot and the HTML of a failed step."""

    def __init__(self, driver, base_url: str, artifacts: Path) -> None:
        self.driver, self.base_url, self.artifacts = driver, base_url.rstrip("/"), artifacts

    # --- waiting -------------------------------------------------------------------------------

    def wait(self, what: str, check: Callable[[], T | None], timeout: float = 30) -> T:
        """Poll ``check`` (exceptions count as "not yet") until truthy; fail naming ``what``."""
        deadline, last_error = time.monotonic() + timeout, None
        while True:
            try:
                result = check()
                if result:
                    return result
            except Exception as exc:  # a stale or not-yet-rendered element: try again
                last_error = exc
            if time.monotonic() > deadline:
                self.save(what)
                why = f" (last error: {type(last_error).__name__}: {str(last_error).splitlines()[0]})" if last_error else ""
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{why}; page saved in {self.artifacts}")
            time.sleep(0.25)

    def save(self, name: str) -> Path:
        """A screenshot and the HTML of the current page, under ``artifacts``."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        stem = self.artifacts / "".join(c if c.isalnum() else "_" for c in name)[:80]
        self.driver.save_screenshot(str(stem.with_suffix(".png")))
        stem.with_suffix(".html").write_text(self.driver.page_source)
        return stem

    # --- elements ------------------------------------------------------------------------------

    def css(self, selector: str):
        from selenium.webdriver.common.by import By

        return [e for e in self.driver.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]

    def xpath(self, expression: str):
        from selenium.webdriver.common.by import By

        return [e for e in self.driver.find_elements(By.XPATH, expression) if e.is_displayed()]

    def button(self, text: str, timeout: float = 30, within: str = ""):
        """The visible, enabled button whose text (or aria-label) is ``text``."""
        expression = (f"{within}//button[normalize-space(.)={_xpath_literal(text)} or "
                      f"@aria-label={_xpath_literal(text)}]")
        return self.wait(f"button {text!r}", lambda: next((b for b in self.xpath(expression) if b.is_enabled()), None),
                         timeout)

    def click(self, text: str, timeout: float = 30, within: str = "") -> None:
        self.button(text, timeout, within).click()

    def text_shown(self, text: str, timeout: float = 30) -> None:
        self.wait(f"the text {text!r}", lambda: text in self.driver.find_element("tag name", "body").text, timeout)

    def fill(self, element, value: str) -> None:
        """Replace an input's value the way a user does (React sees the key events)."""
        from selenium.webdriver.common.keys import Keys

        element.click()
        element.send_keys(Keys.CONTROL, "a")
        element.send_keys(Keys.BACKSPACE)
        if value:
            element.send_keys(value)

    # --- pages ---------------------------------------------------------------------------------

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def open_taxi_loads(self, within_airflow: bool = True, query: str = "") -> None:
        """The plugin's "Taxi loads" page, once its data is drawn: inside Airflow's UI (its nav entry,
        an iframe this switches into) or on its own (``/taxi-loads/?<query>``)."""
        self.driver.switch_to.default_content()
        if within_airflow:
            self.open("/plugin/taxi-loads")
            self.driver.switch_to.frame(self.wait("the page's frame", lambda: self.css("iframe[src*='/taxi-loads/']")[0]))
        else:
            self.open(f"/taxi-loads/{'?' + query if query else ''}")
        self.wait("the page's data", lambda: self.driver.find_element("tag name", "body").get_attribute("data-loaded"))

    def login(self, user: str, password: str) -> None:
        self.open("/")
        username = self.wait("the login form", lambda: self.css("input[name=username]")[0])
        username.send_keys(user)
        self.css("input[name=password]")[0].send_keys(password)
        self.wait("the enabled Sign In button",
                  lambda: next((b for b in self.css("button[type=submit]") if b.is_enabled()), None)).click()
        self.wait("the UI after login",
                  lambda: "/auth/login" not in self.driver.current_url and self.css("a[href$='/dags']"))


    # --- the trigger dialog (DAG page -> Trigger) ------------------------------------------------

    def open_trigger_form(self, dag_id: str) -> None:
        self.open(f"/dags/{dag_id}")
        self.wait("the Trigger button", lambda: self.css("[data-testid=trigger-dag-button]")[0]).click()
        self.text_shown(f"Trigger Dag - {dag_id}")

    def param_input(self, name: str):
        """The number field of param ``name`` (its id is generated; its +/- buttons name it)."""
        increment = self.wait(f"the {name} field",
                              lambda: self.driver.find_element("id", f"number-input:element_{name}:inc"))
        return self.driver.find_element("id", increment.get_attribute("aria-controls"))

    def submit_trigger(self) -> None:
        self.wait("the enabled Trigger submit button",
                  lambda: next((b for b in self.css("[data-testid=trigger-dag-submit]") if b.is_enabled()), None)).click()

    def choose_backfill(self, dag_id: str) -> None:
        self.wait("the Backfill choice", lambda: self.xpath("//label[.//input[@value='backfill']]")[0]).click()
        self.text_shown(f"Run Backfill - {dag_id}")

    def set_backfill_date(self, index: int, date: str, hour_minute: str) -> None:
        """The date-time popover of From (0) or To (1): type the date and time, then close it."""
        from selenium.webdriver.common.keys import Keys

        self.wait("the date fields", lambda: self.css("[data-testid=datetime-input]")[index]).click()
        popover = "[data-scope=popover][data-part=content]"
        self.fill(self.wait("the date input", lambda: self.css(f"{popover} input[placeholder='YYYY/MM/DD']")[0]), date)
        self.fill(self.css(f"{popover} input[placeholder='HH:mm']")[0], hour_minute)
        self.driver.switch_to.active_element.send_keys(Keys.ESCAPE)  # closes the popover, not the dialog
        self.wait("the date popover to close", lambda: not self.css(popover))

    def set_unpause_on_trigger(self, dag_id: str, ticked: bool) -> None:
        label = self.wait("the unpause checkbox",
                          lambda: self.xpath(f"//label[contains(., 'Unpause {dag_id} on trigger')]")[0])
        box = label.find_element("css selector", "input[type=checkbox]")
        if box.is_selected() != ticked:
            label.click()
        self.wait(f"the unpause checkbox {'ticked' if ticked else 'unticked'}", lambda: box.is_selected() == ticked)


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    return "concat(" + ", \"'\", ".join(f"'{part}'" for part in text.split("'")) + ")"
