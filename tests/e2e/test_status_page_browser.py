"""`/ui` in a real headless Chromium (Debian's `chromium` and `chromedriver`, driven by
selenium) against a real gateway process and loopback upstream: sign in through the form,
see the page, watch a target's breaker open after injected upstream failures, and approve a
waiting workflow run with its button, which the REST API then shows resumed and finished."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import start_gateway, start_loopback

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ADMIN_ENV = "STATUS_PAGE_E2E_ADMIN"
ADMIN = "sk-status-page-e2e-0123456789"
FAILURES = 3
REVIEW = """
name: review
inputs: {topic: string}
steps:
  draft: {model: echo, prompt: "Note on {{inputs.topic}}"}
  approve: {approval: "Publish?", needs: [draft]}
  publish: {model: echo, prompt: "Published {{steps.draft.output}}", needs: [approve]}
output: "{{steps.publish.output}}"
"""
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    # The Debian driver, named: selenium never looks for (or downloads) one of its own.
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _config(tmp: Path, upstream: str) -> Path:
    flows = tmp / "workflows"
    flows.mkdir()
    (flows / "review.yaml").write_text(REVIEW)
    config = tmp / "gateway.yaml"
    config.write_text(
        f"""
server: {{access_log: false}}
auth: {{required: false, admin_key_env: {ADMIN_ENV}}}
defaults:
  retries: {{attempts: 1}}
  breaker: {{failures: {FAILURES}, window_seconds: 60, cooldown_seconds: 600}}
workflows: {{dir: {flows}, data_dir: {tmp / "data"}, database_url_env: UNSET_WF_DB_UI_E2E}}
backends:
  loop: {{type: openai, base_url: "{upstream}"}}
  fake: {{type: fake}}
models:
  - {{id: flaky, backend: loop, upstream_model: error-503}}
  - {{id: steady, backend: loop, upstream_model: echo}}
  - {{id: echo, backend: fake}}
"""
    )
    return config


def _breaker(driver: Any, target: str) -> str:
    from selenium.webdriver.common.by import By

    cell = driver.find_element(By.CSS_SELECTOR, f'tr[data-target="{target}"] td.breaker')
    return str(cell.text)


def _until(base: str, run_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = httpx.get(f"{base}/v1/workflows/runs/{run_id}", timeout=10).json()
        if state.get("status") == status:
            return state
        time.sleep(0.1)
    raise AssertionError(f"run never {status}: {state}")


def test_the_status_page_in_chromium(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    loop, upstream = start_loopback(tmp_path)
    gateway, base = start_gateway(
        tmp_path, ["--config", str(_config(tmp_path, upstream))], env={ADMIN_ENV: ADMIN}
    )
    wait = WebDriverWait(browser, 20)
    try:
        # Signed out, the page sends the browser to the login form.
        browser.get(f"{base}/ui")
        wait.until(seen.url_contains("/ui/login"))
        browser.find_element(By.ID, "admin-key").send_keys("sk-wrong")
        browser.find_element(By.ID, "login-submit").click()
        wait.until(seen.presence_of_element_located((By.ID, "login-error")))
        browser.find_element(By.ID, "admin-key").send_keys(ADMIN)
        browser.find_element(By.ID, "login-submit").click()
        wait.until(seen.presence_of_element_located((By.ID, "routes")))
        session = browser.get_cookie("switchyard_ui")
        assert session is not None and session["httpOnly"] and session["sameSite"] == "Strict"
        assert ADMIN not in session["value"]
        assert _breaker(browser, "loop/error-503") == "closed"
        assert _breaker(browser, "loop/echo") == "closed"

        # Injected failures: the scripted upstream answers 503 until the breaker opens.
        chat = {"model": "flaky", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(FAILURES):
            assert (
                httpx.post(f"{base}/v1/chat/completions", json=chat, timeout=10).status_code == 503
            )
        # The breaker is open now: the next one is refused without a call, and says so.
        refused = httpx.post(f"{base}/v1/chat/completions", json=chat, timeout=10)
        assert refused.status_code == 503
        refused_code = refused.json()["error"]["code"]
        steady = {**chat, "model": "steady"}
        assert httpx.post(f"{base}/v1/chat/completions", json=steady, timeout=10).is_success
        browser.refresh()
        wait.until(seen.presence_of_element_located((By.ID, "routes")))
        assert _breaker(browser, "loop/error-503") == "open"
        assert _breaker(browser, "loop/echo") == "closed"
        errors = browser.find_element(By.ID, "errors").text
        assert errors.count("503") >= FAILURES + 1
        assert refused_code in errors  # the response's own code, not one read off the status

        # A run waiting at its approval gate is listed; its button resumes it.
        started = httpx.post(
            f"{base}/v1/workflows/review/runs", json={"inputs": {"topic": "ui"}}, timeout=30
        )
        run_id = started.json()["run_id"]
        _until(base, run_id, "waiting_for_approval")
        browser.refresh()
        row = f'tr.approval[data-run="{run_id}"]'
        wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, row)))
        browser.find_element(By.CSS_SELECTOR, f"{row} button.approve").click()
        wait.until(seen.text_to_be_present_in_element((By.ID, "notice"), "Approved."))
        done = _until(base, run_id, "succeeded")
        assert done["result"] == "Published Note on ui"
        assert done["steps"]["approve"]["state"] == "succeeded"
        browser.refresh()
        wait.until(seen.presence_of_element_located((By.ID, "no-approvals")))
    finally:
        gateway.stop()
        loop.stop()
