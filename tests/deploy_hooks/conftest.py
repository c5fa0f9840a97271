"""A real app serving the deploy hook, and workers polling each deployment's task queue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from deploy_hooks.routes import DeployContext
from dispatcher.activities import DispatchActivities
from dispatcher.workflows import SchedulerWorkflow
from manage_api.context import ApiContext
from manage_db.store import ManageStore
from timekeeper.app import create_app

SECRET = "s3cret-deploy-token"


@pytest.fixture
def queue_for(task_queue: str) -> Callable[[str], str]:
    return lambda deployment_id: f"{task_queue}-{deployment_id}"


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
    )


@pytest_asyncio.fixture
async def hook(
    deploy_context: DeployContext,
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
) -> AsyncIterator[httpx.AsyncClient]:
    ctx = ApiContext(session_factory, manage_store, deploy_context.temporal, task_queue="unused")
    transport = httpx.ASGITransport(app=create_app(ctx, deploy_context))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


class DeploymentWorkers:
    """Scheduler workers for the deployments a test rolls out, one task queue each."""

    def __init__(
        self,
        client: Client,
        store: ManageStore,
        session_factory: sessionmaker[Session],
        queue_for: Callable[[str], str],
        stack: AsyncExitStack,
        executor: ThreadPoolExecutor,
    ) -> None:
        self._client, self._store, self._sessions = client, store, session_factory
        self._queue_for, self._stack, self._executor = queue_for, stack, executor

    async def start(self, deployment_id: str) -> None:
        queue = self._queue_for(deployment_id)
        activities = DispatchActivities(self._store, self._sessions, self._client, queue)
        worker = Worker(
            self._client,
            task_queue=queue,
            workflows=[SchedulerWorkflow],
            activities=activities.callables(),
            activity_executor=self._executor,
        )
        await self._stack.enter_async_context(worker)


@pytest_asyncio.fixture
async def deployment_workers(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    queue_for: Callable[[str], str],
) -> AsyncIterator[DeploymentWorkers]:
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with AsyncExitStack() as stack:
            yield DeploymentWorkers(
                time_skipping_env.client,
                manage_store,
                session_factory,
                queue_for,
                stack,
                executor,
            )
