"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver, through
selenium), against a live server, a worker on the Temporal dev server and a real agent: sign in,
open a project and a trigger, run it now, pause it with a note, and use the editor's field
errors and live preview. Screenshots of the main pages go to the test's tmp dir (and to
`TIMEKEEPER_SCREENSHOTS`, when set, which is how docs/ gets its pictures)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from examples.echo_agent import create_app as create_echo_agent
from manage_db.store import ManageStore
from runner.agents.pools import agent_clients
from runtime_db.api_keys import create_key
from service import agents, projects
from service.context import ServiceContext
from service.inputs import AgentPut, ProjectCreate
from service.scope import Scope
from tests.dashboard.conftest import add_trigger
from tests.runner.conftest import serve
from timekeeper.app import create_app
from timekeeper.settings import Settings
from timekeeper.worker import WorkerDeps, build_worker

WEB = "/ui/tenants/acme/projects/web"


def _browser() -> WebDriver:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "install chromium and chromium-driver (make test does)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = _browser()
    try:
        yield driver
    finally:
        driver.quit()


def _until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def _texts(browser: WebDriver, testid: str) -> list[str]:
    """The texts of the elements with this test id; none while the page is being replaced."""
    try:
        found = browser.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')
        return [e.text for e in found]
    except StaleElementReferenceException:
        return []


def _click(browser: WebDriver, testid: str) -> None:
    browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').click()


def _shoot(browser: WebDriver, folder: Path, name: str) -> None:
    browser.save_screenshot(str(folder / f"{name}.png"))
    target = os.environ.get("TIMEKEEPER_SCREENSHOTS")
    if target:
        browser.save_screenshot(str(Path(target) / f"dashboard-{name}.png"))


def _scenario(browser: WebDriver, url: str, key: str, shots: Path) -> None:
    browser.get(url + "/ui/")
    assert browser.current_url == url + "/ui/login"
    _shoot(browser, shots, "login")
    browser.find_element(By.NAME, "api_key").send_keys(key)
    _click(browser, "sign-in")
    _until(lambda: browser.current_url == url + "/ui/", 10, "signed in")

    browser.find_element(By.LINK_TEXT, "Web").click()
    _until(lambda: len(_texts(browser, "trigger-row")) == 2, 10, "the project's triggers")
    assert sorted(_texts(browser, "schedule-description")) == [
        "At 09:00, Monday through Friday (Europe/Paris)",
        "Every 5 minutes",
    ]
    _shoot(browser, shots, "project")

    browser.find_element(By.LINK_TEXT, "Morning digest").click()
    _until(lambda: bool(_texts(browser, "schedule-description")), 10, "the trigger page")
    assert _texts(browser, "schedule-description") == [
        "At 09:00, Monday through Friday (Europe/Paris)"
    ]
    assert len(_texts(browser, "next-run")) == 10
    page = browser.current_url

    _click(browser, "run-now")
    _until(lambda: "Run started" in " ".join(_texts(browser, "flash")), 10, "the run started")

    def completed() -> bool:
        browser.get(page)
        rows = _texts(browser, "invocation-row")
        return len(rows) == 1 and rows[0].startswith("completed")

    _until(completed, 20, "an invocation row, completed")

    browser.find_element(By.CSS_SELECTOR, '[data-testid="pause-note-input"]').send_keys(
        "waiting for the vendor"
    )
    _click(browser, "pause")
    _until(lambda: _texts(browser, "trigger-status") == ["paused"], 10, "paused")
    assert "waiting for the vendor" in _texts(browser, "pause-note")[0]
    _shoot(browser, shots, "trigger")

    browser.get(url + WEB + "/agents/bot/new-trigger")
    cron = browser.find_element(By.ID, "cron_expression")
    cron.send_keys("61 * * * *")
    _until(lambda: "cron_expression" in " ".join(_texts(browser, "preview-error")), 10,
           "the preview's field error")  # fmt: skip
    browser.find_element(By.NAME, "id").send_keys("broken")
    browser.find_element(By.NAME, "name").send_keys("Broken")
    browser.find_element(By.NAME, "message_template").send_keys("m")
    _click(browser, "save")
    _until(lambda: bool(_texts(browser, "error-cron_expression")), 10, "the field error")
    assert "61" in _texts(browser, "error-cron_expression")[0]
    cron = browser.find_element(By.ID, "cron_expression")
    cron.clear()
    cron.send_keys("*/5 * * * *")
    _until(lambda: _texts(browser, "preview-description") == ["Every 5 minutes"], 10,
           "the live preview")  # fmt: skip
    assert len(browser.find_elements(By.CSS_SELECTOR, "#preview-instants li")) == 5
    _shoot(browser, shots, "edit")


async def test_the_dashboard_in_a_real_browser(
    browser: WebDriver,
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> None:
    client = dev_env.client
    with session_factory.begin() as session:
        key, _ = create_key(session, tenant_id="acme", is_admin=False, principal="alice")
    ctx = ServiceContext(session_factory, manage_store, client, task_queue)
    settings = Settings(_env_file=None, task_queue=task_queue)  # type: ignore[call-arg]  # pydantic-settings' init-only option
    with serve(create_echo_agent()) as agent_url, serve(create_app(ctx)) as url:
        projects.create_project(ctx, Scope("alice", "acme"), ProjectCreate(id="web", name="Web"))
        endpoint = {"url": agent_url + "/webhook", "protocol": "webhook"}
        agents.put_agent(
            ctx,
            Scope("alice", "acme", "web", "bot"),
            AgentPut.model_validate({"name": "Bot", "endpoint": endpoint}),
        )
        add_trigger(ctx, id="digest", name="Morning digest", cron_expression="0 9 * * 1-5",
                    cron_timezone="Europe/Paris")  # fmt: skip
        add_trigger(ctx, id="poll", name="Poll", cron_expression="*/5 * * * *",
                    cron_timezone="UTC")  # fmt: skip
        with ThreadPoolExecutor(max_workers=64) as pool:
            async with agent_clients(200) as http:
                deps = WorkerDeps(settings, client, session_factory, manage_store, http)
                async with build_worker(deps, pool):
                    await asyncio.to_thread(_scenario, browser, url, key, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "edit.png",
        "login.png",
        "project.png",
        "trigger.png",
    ]
