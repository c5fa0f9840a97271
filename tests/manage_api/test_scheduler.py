"""`GET /v1/scheduler` (admin): the registered scheduler, with `running` as Temporal says it now."""

from collections.abc import Callable

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from dispatcher.control import start_scheduler
from manage_db.store import ManageStore
from runtime_db.api_keys import create_key
from service.context import ServiceContext
from tests.conftest import DeploymentWorkers
from timekeeper.app import create_app


async def test_the_scheduler_as_temporal_sees_it(
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    time_skipping_env: WorkflowEnvironment,
    deployment_workers: DeploymentWorkers,
    queue_for: Callable[[str], str],
) -> None:
    with session_factory.begin() as session:
        admin, _ = create_key(session, tenant_id=None, is_admin=True, principal="ops")
        tenant, _ = create_key(session, tenant_id="acme", is_admin=False, principal="alice")
    client = time_skipping_env.client
    ctx = ServiceContext(session_factory, manage_store, client, task_queue="unused")
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:

        async def get(key: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return await api.get("/v1/scheduler", headers=headers)

        assert (await get(None)).status_code == 401
        assert (await get(tenant)).status_code == 403
        none_yet = await get(admin)
        assert (none_yet.status_code, none_yet.json()["detail"]) == (
            404,
            "No scheduler is registered.",
        )

        await deployment_workers.start("d1")
        started = await start_scheduler(
            client, session_factory, deployment_id="d1", task_queue=queue_for("d1"), tick_seconds=60
        )
        await time_skipping_env.sleep(60)  # it registers, then ticks once
        running = (await get(admin)).json()
        await client.get_workflow_handle(started.workflow_id).terminate("test")
        stopped = (await get(admin)).json()

    assert {k: running[k] for k in ("generation", "deployment_id", "workflow_id", "running")} == {
        "generation": started.generation,
        "deployment_id": "d1",
        "workflow_id": "timekeeper-scheduler:d1",
        "running": True,
    }
    assert running["run_id"] == started.run_id
    assert running["last_tick"]["branches_listed"] == 1
    assert running["last_tick_at"] == running["last_tick"]["as_of"]
    assert stopped["running"] is False
