"""PostgreSQL stopped for 10 s under API traffic, with a scheduler ticking: the API answers only
503s (with Retry-After) while it is down, every write it acknowledged is kept and none it
refused is half-made, and the scheduler ticks again once the database is back. Real processes:
the PostgreSQL server is stopped and started, the scheduler runs on the Temporal dev server."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from dispatcher.activities import DispatchActivities
from dispatcher.control import start_scheduler
from dispatcher.workflows import SchedulerWorkflow
from manage_db.store import ManageStore
from manage_db.timestamps import utc_now
from runtime_db import migrate as runtime_migrate
from runtime_db.api_keys import create_key
from runtime_db.engine import make_engine, make_session_factory
from runtime_db.scheduler_state import current_state
from service.context import ServiceContext
from tests.conftest import restart_postgres
from timekeeper.app import create_app
from timekeeper.embedded import EmbeddedPostgres

PROJECTS = "/v1/tenants/acme/projects"


@dataclass(frozen=True)
class Answer:
    method: str
    project: str | None
    status: int
    retry_after: str | None


@pytest.fixture
def sessions(own_postgres: EmbeddedPostgres) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(own_postgres.uri, pool_size=4)
    runtime_migrate.upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _last_tick(sessions: sessionmaker[Session]) -> datetime | None:
    try:
        with sessions() as session:
            state = current_state(session)
    except OperationalError:
        return None
    return state.last_tick_at if state is not None else None


async def _until_ticked_after(sessions: sessionmaker[Session], after: datetime) -> datetime:
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(_last_tick, sessions)
        if last is not None and last > after:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"the scheduler did not tick after {after}")


async def _traffic(api: httpx.AsyncClient, stop: asyncio.Event, answers: list[Answer]) -> None:
    """Writes and reads, one after the other, until told to stop."""
    for n in range(100_000):
        if stop.is_set():
            return
        project = f"p{n}"
        for method, response in (
            ("POST", await api.post(PROJECTS, json={"id": project, "name": project})),
            ("GET", await api.get(PROJECTS, params={"limit": 1000})),
        ):
            answers.append(
                Answer(
                    method,
                    project if method == "POST" else None,
                    response.status_code,
                    response.headers.get("retry-after"),
                )
            )
        await asyncio.sleep(0.05)


async def test_postgres_down_10s_under_traffic_answers_503_loses_nothing_and_ticks_resume(
    own_postgres: EmbeddedPostgres,
    sessions: sessionmaker[Session],
    manage_store: ManageStore,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = dev_env.client
    with sessions.begin() as session:
        key, _ = create_key(session, tenant_id="acme", is_admin=False, principal="alice")
    app = create_app(ServiceContext(sessions, manage_store, client, task_queue))
    caplog.set_level(logging.WARNING, logger="manage_api.outages")
    answers: list[Answer] = []
    stop = asyncio.Event()
    activities = DispatchActivities(manage_store, sessions, client, task_queue)
    transport = httpx.ASGITransport(app=app)
    auth = {"Authorization": f"Bearer {key}"}
    with ThreadPoolExecutor(max_workers=16) as pool:
        async with (
            Worker(
                client,
                task_queue=task_queue,
                workflows=[SchedulerWorkflow],
                activities=activities.callables(),
                activity_executor=pool,
                max_concurrent_activities=16,
            ),
            httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as api,
        ):
            started = await start_scheduler(
                client,
                sessions,
                deployment_id=f"outage-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
                tick_seconds=2,
            )
            await _until_ticked_after(sessions, utc_now())
            traffic = asyncio.create_task(_traffic(api, stop, answers))
            await asyncio.sleep(1)  # traffic with the database up
            own_postgres.stop()
            await asyncio.sleep(10)  # the outage
            during = len(answers)
            restart_postgres(own_postgres)
            resumed = await _until_ticked_after(sessions, utc_now())
            await asyncio.sleep(1)  # traffic with the database back
            stop.set()
            await traffic
            final = await api.get(PROJECTS, params={"limit": 1000})
            scheduler = await client.get_workflow_handle(
                started.workflow_id, run_id=started.run_id
            ).describe()

    statuses = {a.status for a in answers}
    assert statuses == {200, 201, 503}, statuses
    refused = [a for a in answers if a.status == 503]
    assert len(refused) >= 10 and {a.retry_after for a in refused} == {"5"}
    assert any(a.status == 201 for a in answers[during:])  # writes succeed again
    acknowledged = {a.project for a in answers if a.method == "POST" and a.status == 201}
    assert final.status_code == 200
    assert {p["id"] for p in final.json()["items"]} == acknowledged
    assert resumed is not None
    assert scheduler.status == WorkflowExecutionStatus.RUNNING
    messages = [r.getMessage() for r in caplog.records if r.name == "manage_api.outages"]
    assert messages == [
        "the runtime store is unavailable (OperationalError); answering 503 until it returns",
        "the runtime store is available again",
    ]
