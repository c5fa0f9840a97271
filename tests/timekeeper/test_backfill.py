"""Backfill end to end on the time-skipping server: five past hourly instants run as `backfill`
invocations with those `scheduled_for` values, delivered to a real agent; repeating the request
starts nothing twice; a future or too long range is a 422 naming `end`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from examples.echo_agent import create_app as create_echo_agent
from manage_db.store import ManageStore
from runner.agents.pools import agent_clients
from runtime_db.api_keys import create_key
from service.context import ServiceContext
from tests.runner.conftest import serve
from timekeeper.app import create_app
from timekeeper.settings import Settings
from timekeeper.worker import WorkerDeps, build_worker

PROJECT = "/v1/tenants/acme/projects/web"
TRIGGER = PROJECT + "/agents/echo/triggers/hourly"
RANGE = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T05:00:00Z"}


async def test_backfill_runs_each_past_instant_once(
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    client = time_skipping_env.client
    with session_factory.begin() as session:
        key, _ = create_key(session, tenant_id="acme", is_admin=False, principal="alice")
    ctx = ServiceContext(session_factory, manage_store, client, task_queue)
    transport = httpx.ASGITransport(app=create_app(ctx))
    settings = Settings(_env_file=None, task_queue=task_queue)  # type: ignore[call-arg]  # pydantic-settings' init-only option
    auth = {"Authorization": f"Bearer {key}"}
    with serve(create_echo_agent()) as agent_url, ThreadPoolExecutor(max_workers=64) as pool:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as api,
            agent_clients(200) as http,
        ):
            deps = WorkerDeps(settings, client, session_factory, manage_store, http)
            async with build_worker(deps, pool):
                await api.post("/v1/tenants/acme/projects", json={"id": "web", "name": "Web"})
                endpoint = {"url": agent_url + "/webhook", "protocol": "webhook"}
                await api.put(f"{PROJECT}/agents/echo", json={"name": "E", "endpoint": endpoint})
                created = await api.post(
                    f"{PROJECT}/agents/echo/triggers",
                    json={
                        "id": "hourly",
                        "name": "Hourly",
                        "cron_expression": "0 * * * *",
                        "message_template": "for {{scheduled_for}}",
                    },
                )
                assert created.status_code == 201, created.text

                first = await api.post(TRIGGER + "/backfill", json=RANGE)
                assert first.status_code == 202, first.text
                for instant in first.json()["instants"]:
                    slot = instant.replace("-", "").replace(":", "")
                    workflow_id = f"trigger-run:acme:web:echo:hourly:backfill-{slot}"
                    await client.get_workflow_handle(workflow_id).result()
                again = await api.post(TRIGGER + "/backfill", json=RANGE)
                listed = await api.get(TRIGGER + "/invocations", params={"limit": "100"})
                future = await api.post(
                    TRIGGER + "/backfill", json={**RANGE, "end": "2999-01-01T00:00:00Z"}
                )
                too_long = await api.post(
                    TRIGGER + "/backfill",
                    json={"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
                )
                received = httpx.get(agent_url + "/received").json()

    hours = [f"2026-11-20T0{h}:00:00Z" for h in range(5)]
    assert first.json() == {"instants": hours, "started": 5}
    assert again.status_code == 202
    assert again.json() == {"instants": hours, "started": 0}
    rows = sorted((i["scheduled_for"], i["kind"], i["status"]) for i in listed.json()["items"])
    assert rows == [(h, "backfill", "completed") for h in hours]
    assert sorted(r["message"] for r in received) == [f"for {h}" for h in hours]
    assert (future.status_code, [e["field"] for e in future.json()["errors"]]) == (422, ["end"])
    assert [(e["field"], e["message"]) for e in too_long.json()["errors"]] == [
        ("end", "the range holds more than 1000 fire instants")
    ]
