"""`GET /healthz` answers 200 when all three stores answer, 503 naming the one that does not."""

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from manage_db.store import ManageStore
from runtime_db.scheduler_state import record_tick, register
from service.context import ServiceContext
from timekeeper.app import create_app
from timekeeper.embedded import free_port


async def _get_health(ctx: ServiceContext) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/healthz")


async def test_all_stores_healthy(
    session_factory: sessionmaker[Session], manage_store: ManageStore, dev_env: WorkflowEnvironment
) -> None:
    ctx = ServiceContext(session_factory, manage_store, dev_env.client, task_queue="q")
    response = await _get_health(ctx)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "stores": {"runtime_db": "ok", "manage_db": "ok", "temporal": "ok"},
    }


async def test_temporal_down_is_named(
    session_factory: sessionmaker[Session], manage_store: ManageStore
) -> None:
    unreachable = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    ctx = ServiceContext(session_factory, manage_store, unreachable, task_queue="q")
    response = await _get_health(ctx)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "stores": {"runtime_db": "ok", "manage_db": "ok", "temporal": "unavailable"},
    }


async def test_manage_store_unreadable_is_named(
    session_factory: sessionmaker[Session], tmp_path, dev_env: WorkflowEnvironment
) -> None:
    (tmp_path / "not-a-dir").write_text("x")
    broken = ManageStore(tmp_path / "not-a-dir" / "manage.db")
    ctx = ServiceContext(session_factory, broken, dev_env.client, task_queue="q")
    response = await _get_health(ctx)
    assert response.status_code == 503
    assert response.json()["stores"] == {
        "runtime_db": "ok",
        "manage_db": "unavailable",
        "temporal": "ok",
    }


async def test_a_scheduler_silent_for_three_ticks_makes_health_unavailable(
    session_factory: sessionmaker[Session], manage_store: ManageStore, dev_env: WorkflowEnvironment
) -> None:
    ticked = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)
    with session_factory.begin() as session:
        register(
            session,
            generation=4,
            deployment_id="d4",
            workflow_id="timekeeper-scheduler:d4",
            run_id="r4",
            task_queue="q",
            now=ticked - timedelta(minutes=1),
        )
        record_tick(session, 4, ticked, {})
    clock = {"now": ticked + timedelta(seconds=180)}
    ctx = ServiceContext(
        session_factory, manage_store, dev_env.client, task_queue="q", now=lambda: clock["now"]
    )

    on_time = await _get_health(ctx)
    clock["now"] = ticked + timedelta(seconds=181)
    stalled = await _get_health(ctx)

    assert on_time.status_code == 200
    assert stalled.status_code == 503
    assert stalled.json() == {
        "status": "unavailable",
        "stores": {"runtime_db": "ok", "manage_db": "ok", "temporal": "ok"},
        "reason": "the scheduler (generation 4) has not ticked since 2030-01-07T10:00:00Z:"
        " 181 s, more than 3 ticks of 60 s",
    }
