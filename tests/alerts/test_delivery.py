"""Alerts end to end: a final failure posts exactly one signed `invocation.failed`, retried
through an endpoint's errors, recorded as a delivery; a hanging endpoint delays no run."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from alerts.models import alert_workflow_id
from alerts.pump import AlertPump
from alerts.signature import verify
from examples.echo_agent import create_app as create_echo_agent
from manage_db.store import ManageStore
from runner.agents.pools import agent_clients
from runtime_db.api_keys import create_key
from service.context import ServiceContext
from tests.alerts.conftest import AlertReceiver
from tests.runner.conftest import serve
from timekeeper.app import create_app
from timekeeper.settings import Settings
from timekeeper.worker import WorkerDeps, build_alert_worker, build_worker

PROJECT = "/v1/tenants/acme/projects/web"
HISTORIES = Path(__file__).parent / "histories"
SECRET_ENV = "TK_TEST_ALERT_SECRET"


async def alert_ended(env: WorkflowEnvironment, delivery_id: object) -> WorkflowHandle[Any, Any]:
    """The delivery's workflow once it has ended, skipping the test server's clock through its
    retry backoff (bounded: 100 skips of 60 s)."""
    handle = env.client.get_workflow_handle(alert_workflow_id(str(delivery_id)))
    for _ in range(100):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return handle
        await env.sleep(60)
    raise AssertionError(f"alert workflow {handle.id} did not end")


async def keep_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With TIMEKEEPER_RECORD_HISTORIES=1, save the workflow's history for the replay test."""
    if os.environ.get("TIMEKEEPER_RECORD_HISTORIES") != "1":
        return
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text((await handle.fetch_history()).to_json())


@dataclass
class Stack:
    api: httpx.AsyncClient
    client: Client
    pump: AlertPump

    async def trigger(self, agent: str, url: str) -> str:
        endpoint = {"url": url, "protocol": "webhook"}
        put = await self.api.put(
            f"{PROJECT}/agents/{agent}", json={"name": agent, "endpoint": endpoint}
        )
        assert put.status_code == 201, put.text
        created = await self.api.post(
            f"{PROJECT}/agents/{agent}/triggers",
            json={
                "id": f"{agent}-daily",
                "name": "Daily",
                "cron_expression": "0 9 * * *",
                "message_template": "hello",
                "max_retries": 0,
            },
        )
        assert created.status_code == 201, created.text
        return f"{PROJECT}/agents/{agent}/triggers/{agent}-daily"

    async def run(self, trigger: str) -> dict[str, object]:
        """Run the trigger now and wait for its invocation to end (the runner's own result)."""
        started = await self.api.post(trigger + "/run")
        assert started.status_code == 202, started.text
        invocation = f"{trigger}/invocations/{started.json()['invocation_id']}"
        workflow_id = (await self.api.get(invocation)).json()["workflow_id"]
        await self.client.get_workflow_handle(workflow_id).result()
        return dict((await self.api.get(invocation)).json())

    async def deliveries(self, hook: str) -> list[dict[str, object]]:
        return list((await self.api.get(f"{PROJECT}/alerts/{hook}/deliveries")).json()["items"])


@asynccontextmanager
async def stack(
    client: Client,
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    task_queue: str,
) -> AsyncIterator[Stack]:
    with session_factory.begin() as session:
        key, _ = create_key(session, tenant_id="acme", is_admin=False, principal="alice")
    ctx = ServiceContext(session_factory, manage_store, client, task_queue)
    transport = httpx.ASGITransport(app=create_app(ctx))
    settings = Settings(_env_file=None, task_queue=task_queue)  # type: ignore[call-arg]  # pydantic-settings' init-only option
    auth = {"Authorization": f"Bearer {key}"}
    with ThreadPoolExecutor(max_workers=64) as pool:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as api,
            agent_clients(200) as http,
        ):
            deps = WorkerDeps(settings, client, session_factory, manage_store, http)
            async with build_worker(deps, pool), build_alert_worker(deps, pool):
                created = await api.post(
                    "/v1/tenants/acme/projects", json={"id": "web", "name": "W"}
                )
                assert created.status_code == 201, created.text
                yield Stack(api, client, AlertPump(client, session_factory, task_queue, 60))


async def test_a_final_failure_posts_one_signed_alert(
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    receiver: AlertReceiver,
    receiver_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    client = time_skipping_env.client
    async with stack(client, session_factory, manage_store, task_queue) as tk:
        hook = {"url": receiver_url, "events": ["invocation.failed"], "secret_env": SECRET_ENV}
        assert (await tk.api.put(f"{PROJECT}/alerts/pager", json=hook)).status_code == 201
        with serve(create_echo_agent()) as agent_url:
            trigger = await tk.trigger("broken", agent_url + "/nowhere")
            ended = await tk.run(trigger)
        assert ended["status"] == "failed"

        assert await tk.pump.once() == 1
        [delivery] = await tk.deliveries("pager")
        assert await (await alert_ended(time_skipping_env, delivery["id"])).result() == "delivered"
        assert await tk.pump.once() == 0  # nothing is posted twice
        [delivery] = await tk.deliveries("pager")

    [alert] = receiver.received
    assert verify(alert.body, "s3cret", alert.headers["x-timekeeper-signature"])
    assert not verify(alert.body, "other", alert.headers["x-timekeeper-signature"])
    assert alert.headers["x-timekeeper-event"] == "invocation.failed"
    assert json.loads(alert.body) == {
        "event": "invocation.failed",
        "occurred_at": json.loads(alert.body)["occurred_at"],
        "tenant_id": "acme",
        "project_id": "web",
        "agent_id": "broken",
        "trigger_id": "broken-daily",
        "invocation_id": ended["id"],
        "scheduled_for": ended["scheduled_for"],
        "detail": "http_4xx: HTTP 404 Not Found",
    }
    assert (delivery["event"], delivery["status"], delivery["attempts"]) == (
        "invocation.failed",
        "delivered",
        1,
    )
    assert (delivery["http_status"], delivery["payload"]) == (200, json.loads(alert.body))


async def _post_one_failure_alert(
    env: WorkflowEnvironment,
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    task_queue: str,
    receiver_url: str,
    history: str,
) -> tuple[str, dict[str, object]]:
    """One failed run's alert, posted until its workflow ends: that workflow's result and the
    delivery as the API shows it then."""
    async with stack(env.client, session_factory, manage_store, task_queue) as tk:
        hook = {"url": receiver_url, "events": ["invocation.failed"]}
        await tk.api.put(f"{PROJECT}/alerts/pager", json=hook)
        with serve(create_echo_agent()) as agent_url:
            await tk.run(await tk.trigger("broken", agent_url + "/nowhere"))
        await tk.pump.once()
        [delivery] = await tk.deliveries("pager")
        handle = await alert_ended(env, delivery["id"])
        result = await handle.result()
        await keep_history(handle, history)
        [delivery] = await tk.deliveries("pager")
    return result, delivery


async def test_an_endpoint_error_is_retried_until_it_answers(
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    receiver: AlertReceiver,
    receiver_url: str,
) -> None:
    receiver.statuses = [500, 503]
    result, delivery = await _post_one_failure_alert(
        time_skipping_env, session_factory, manage_store, task_queue, receiver_url, "alert_retried"
    )

    assert result == "delivered"
    assert len(receiver.received) == 3
    assert "x-timekeeper-signature" not in receiver.received[0].headers
    assert {r.body for r in receiver.received} == {receiver.received[0].body}
    assert (delivery["status"], delivery["attempts"], delivery["http_status"]) == (
        "delivered",
        3,
        200,
    )


async def test_an_endpoint_that_keeps_failing_ends_the_delivery_failed(
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    receiver: AlertReceiver,
    receiver_url: str,
) -> None:
    receiver.statuses = [500] * 8
    result, delivery = await _post_one_failure_alert(
        time_skipping_env, session_factory, manage_store, task_queue, receiver_url, "alert_given_up"
    )

    assert result == "failed"
    assert len(receiver.received) == 8
    assert (delivery["status"], delivery["attempts"], delivery["http_status"]) == ("failed", 8, 500)
    assert delivery["last_error"] == "HTTP 500: "


async def test_a_hanging_alert_endpoint_delays_no_run(
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    receiver: AlertReceiver,
    receiver_url: str,
) -> None:
    receiver.hang = True
    client = dev_env.client
    async with stack(client, session_factory, manage_store, task_queue) as tk:
        hook = {"url": receiver_url, "events": ["invocation.failed"]}
        await tk.api.put(f"{PROJECT}/alerts/pager", json=hook)
        with serve(create_echo_agent()) as agent_url:
            await tk.run(await tk.trigger("broken", agent_url + "/nowhere"))
            await tk.pump.once()
            assert await asyncio.to_thread(receiver.arrived.wait, 10)

            began = time.monotonic()
            ended = await tk.run(await tk.trigger("echo", agent_url + "/webhook"))
            took = time.monotonic() - began
            [delivery] = await tk.deliveries("pager")

    assert ended["status"] == "completed"
    assert took < 10  # the alert post, still hanging, is not in the run's way
    assert (delivery["status"], delivery["attempts"]) == ("pending", 0)
    assert not receiver.release.is_set()
    assert os.environ.get(SECRET_ENV) is None
