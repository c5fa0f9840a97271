"""`GET /healthz` answers 200 when all three stores answer, 503 naming the one that does not."""

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from manage_db.store import ManageStore
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
