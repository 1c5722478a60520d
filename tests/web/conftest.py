"""Fixtures of the cockpit's browser tests: one simulated hospital served by uvicorn for the
whole session, one headless Chromium (the system's, through the system chromedriver), and
helpers to log in, visit a page with no console error, check accessibility and keep a
screenshot under `test-artifacts/cockpit/`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.world import PASSWORD
from tests.web.world import Cockpit, build

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "cockpit"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def cockpit(tmp_path_factory) -> Iterator[Cockpit]:
    c = build(tmp_path_factory.mktemp("cockpit"))
    yield c
    c.stop()


@pytest.fixture(scope="session")
def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists() and not shutil.which(Path(binary).name):
            pytest.fail(
                f"{binary} is missing: run `make browser` (Debian chromium, chromium-driver)"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1366,768",
        "--lang=zh-CN",
        "--disable-extensions",
        "--no-first-run",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or CHROMEDRIVER), options=options
    )
    driver.set_page_load_timeout(180)
    yield driver
    driver.quit()


class Browser:
    """The Chromium driver with the cockpit's address and a test's name (for screenshots)."""

    def __init__(self, driver, cockpit: Cockpit, name: str) -> None:
        self.driver = driver
        self.cockpit = cockpit
        self.name = name
        self.shots = 0

    def url(self, path: str) -> str:
        return self.cockpit.url + path

    def visit(self, path: str) -> None:
        """Open a page and check that the browser console logged no error."""
        self.driver.get(self.url(path))
        self.assert_clean_console()

    def visit_refused(self, path: str, status: int = 403) -> None:
        """Open a page the caller may not see: an error page with `status`, and no console
        error but the browser's note of that status for the page itself."""
        self.driver.get(self.url(path))
        error = self.driver.find_element("id", "error")
        assert error.get_attribute("data-status") == str(status)
        errors = [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
        assert all(f"status of {status}" in e["message"] for e in errors), errors

    def assert_clean_console(self) -> None:
        errors = [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"browser console errors: {errors}"

    def login(self, role: str, next_path: str | None = None) -> None:
        from selenium.webdriver.common.by import By

        self.visit("/cockpit/login" + (f"?next={next_path}" if next_path else ""))
        d = self.driver
        d.find_element(By.ID, "username").send_keys(self.cockpit.users[role])
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.ID, "login-submit").click()
        self.wait_for(lambda: "/login" not in d.current_url)
        self.assert_clean_console()

    def wait_for(self, condition, timeout: float = 120) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout).until(lambda _: condition())

    def text(self, css: str) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css).text

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def screenshot(self, label: str = "") -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = ARTIFACTS / f"{self.name}-{self.shots}{'-' + label if label else ''}.png"
        self.driver.save_screenshot(str(path))
        return path

    def axe_critical(self) -> list[dict]:
        """The critical accessibility violations axe-core finds on the current page."""
        self.driver.execute_script(AXE.read_text(encoding="utf-8"))
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document).then(r => done(JSON.stringify(r.violations)))"
            ".catch(e => done(JSON.stringify([{id: 'axe-error', impact: 'critical',"
            " help: String(e)}])));"
        )
        return [v for v in json.loads(result) if v.get("impact") == "critical"]


@pytest.fixture
def browser(chromium, cockpit, request) -> Iterator[Browser]:
    """A fresh session (no cookies) in the shared Chromium for one test."""
    chromium.get(cockpit.url + "/cockpit/static/cockpit.css")  # the cookies' path
    chromium.delete_all_cookies()
    chromium.get_log("browser")  # drop what earlier tests left
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")
    yield Browser(chromium, cockpit, name)
    chromium.get(cockpit.url + "/cockpit/static/cockpit.css")
    chromium.delete_all_cookies()
