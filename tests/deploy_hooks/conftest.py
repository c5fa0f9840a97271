"""A real app serving the deploy hook, and workers polling each deployment's task queue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from deploy_hooks.routes import DeployContext
from dispatcher.models import SchedulerOptions
from manage_db.store import ManageStore
from service.context import ServiceContext
from timekeeper.app import create_app

SECRET = "s3cret-deploy-token"


@pytest.fixture
def deploy_context(
    session_factory: sessionmaker[Session],
    time_skipping_env: WorkflowEnvironment,
    queue_for: Callable[[str], str],
) -> DeployContext:
    return DeployContext(
        session_factory=session_factory,
        temporal=time_skipping_env.client,
        deploy_secret=SECRET,
        tick_seconds=60,
        task_queue_for=queue_for,
        scheduler=SchedulerOptions(lead_ms=30_000),
    )


@pytest_asyncio.fixture
async def hook(
    deploy_context: DeployContext,
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
) -> AsyncIterator[httpx.AsyncClient]:
    ctx = ServiceContext(
        session_factory, manage_store, deploy_context.temporal, task_queue="unused"
    )
    transport = httpx.ASGITransport(app=create_app(ctx, deploy_context))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
