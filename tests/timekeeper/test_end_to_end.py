"""The first milestone, end to end: a trigger created through the API fires through the scheduler
into a real agent and is recorded. Real PostgreSQL, doltlite, Temporal (time-skipping) and HTTP.
"""

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest_asyncio
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from dispatcher.control import start_scheduler
from examples.echo_agent import create_app as create_echo_agent
from manage_db.store import ManageStore
from runner.agents.pools import agent_clients
from runtime_db.api_keys import create_key
from runtime_db.scheduler_state import current_state
from service.context import ServiceContext
from tests.runner.conftest import serve
from timekeeper.app import create_app
from timekeeper.settings import Settings
from timekeeper.worker import WorkerDeps, build_worker

PROJECT = "/v1/tenants/acme/projects/web"
TRIGGER = f"{PROJECT}/agents/echo/triggers/report"


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest_asyncio.fixture
async def api(
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    with session_factory.begin() as session:
        key, _ = create_key(session, tenant_id="acme", is_admin=False, principal="alice")
    ctx = ServiceContext(session_factory, manage_store, time_skipping_env.client, task_queue)
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield client


async def test_a_trigger_created_through_the_api_fires_into_a_real_agent_and_is_recorded(
    api: httpx.AsyncClient,
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    client = time_skipping_env.client
    settings = Settings(_env_file=None, task_queue=task_queue, tick_seconds=60)  # type: ignore[call-arg]  # pydantic-settings' init-only option
    echo = create_echo_agent()
    with serve(echo) as agent_url, ThreadPoolExecutor(max_workers=64) as executor:
        async with agent_clients(200) as http:
            deps = WorkerDeps(settings, client, session_factory, manage_store, http)
            worker = build_worker(deps, executor)
            async with worker:
                assert (
                    await api.post("/v1/tenants/acme/projects", json={"id": "web", "name": "Web"})
                ).status_code == 201
                agent = {
                    "name": "Echo",
                    "endpoint": {"url": f"{agent_url}/webhook", "protocol": "webhook"},
                }
                assert (await api.put(f"{PROJECT}/agents/echo", json=agent)).status_code == 201
                created = await api.post(
                    f"{PROJECT}/agents/echo/triggers",
                    json={
                        "id": "report",
                        "name": "Five-minute report",
                        "cron_expression": "*/5 * * * *",
                        "message_template": "Report for {{scheduled_for}} ({{payload.team}})",
                        "payload": {"team": "ops"},
                    },
                )
                assert created.status_code == 201, created.text
                first_run = created.json()["next_run_at"]

                started = await start_scheduler(
                    client,
                    session_factory,
                    deployment_id="e2e",
                    task_queue=task_queue,
                    tick_seconds=60,
                )
                fire_at = datetime.strptime(first_run, "%Y-%m-%dT%H:%M:%S%z")
                now = await time_skipping_env.get_current_time()
                # Past the tick that fires it, and well before the next occurrence.
                await time_skipping_env.sleep(fire_at + timedelta(seconds=30) - now)
                runner = client.get_workflow_handle(
                    "trigger-run:acme:web:echo:report:"
                    + first_run.replace("-", "").replace(":", "")
                )
                await runner.result()

                invocations = (await api.get(f"{TRIGGER}/invocations")).json()
                trigger = (await api.get(TRIGGER)).json()
                received = (await http[0].get(f"{agent_url}/received")).json()
                await client.get_workflow_handle(started.workflow_id).terminate("test over")

    assert [i["status"] for i in invocations["items"]] == ["completed"]
    invocation = invocations["items"][0]
    assert invocation["scheduled_for"] == first_run
    assert invocation["kind"] == "scheduled"
    assert invocation["message"] == f"Report for {first_run} (ops)"
    detail = (await api.get(f"{TRIGGER}/invocations/{invocation['id']}")).json()
    assert [(a["attempt_number"], a["status"], a["http_status"]) for a in detail["attempts"]] == [
        (1, "succeeded", 200)
    ]

    assert [(r["path"], r["idempotency_key"], r["message"]) for r in received] == [
        ("/webhook", invocation["id"], f"Report for {first_run} (ops)")
    ]
    assert received[0]["body"]["scheduled_for"] == first_run
    assert received[0]["body"]["payload"] == {"team": "ops"}
    assert trigger["last_scheduled_for"] == first_run
    assert trigger["next_run_at"] == _z(fire_at + timedelta(minutes=5))
    with session_factory() as session:
        state = current_state(session)
        assert state is not None
        assert state.generation == started.generation
