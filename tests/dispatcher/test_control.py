"""Starting the scheduler: once per deployment, and again whenever a worker finds none running.

No worker polls these task queues, so each scheduler stays as started; registration, which the
workflow's first activity would do, is done here directly where a test needs it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from dispatcher.control import SchedulerStart, ensure_scheduler, start_scheduler
from dispatcher.models import SchedulerInput, SchedulerOptions
from runtime_db.models import SchedulerGeneration
from runtime_db.scheduler_state import register


@pytest_asyncio.fixture
async def deployments(dev_env: WorkflowEnvironment) -> AsyncIterator[list[str]]:
    """Fresh deployment ids (the dev server is shared); their schedulers end with the test."""
    ids = [f"d-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    yield ids
    for deployment in ids:
        with contextlib.suppress(RPCError):
            await dev_env.client.get_workflow_handle(
                f"timekeeper-scheduler:{deployment}"
            ).terminate()


async def _start(
    client: Client, sessions: sessionmaker[Session], deployment: str
) -> SchedulerStart:
    return await start_scheduler(
        client,
        sessions,
        deployment_id=deployment,
        task_queue=f"timekeeper-{deployment}",
        tick_seconds=60,
    )


async def _ensure(
    client: Client, sessions: sessionmaker[Session], deployment: str
) -> SchedulerStart | None:
    return await ensure_scheduler(
        client,
        sessions,
        deployment_id=deployment,
        task_queue=f"timekeeper-{deployment}",
        tick_seconds=60,
    )


def _register(sessions: sessionmaker[Session], started: SchedulerStart, deployment: str) -> None:
    """What the scheduler's `register` activity does when its run starts."""
    with sessions.begin() as session:
        assert register(
            session,
            generation=started.generation,
            deployment_id=deployment,
            workflow_id=started.workflow_id,
            run_id=started.run_id,
            task_queue=f"timekeeper-{deployment}",
            now=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        )


async def _status(client: Client, workflow_id: str) -> tuple[str, WorkflowExecutionStatus | None]:
    description = await client.get_workflow_handle(workflow_id).describe()
    return description.run_id, description.status


async def test_a_deployment_starts_one_scheduler_however_often_it_asks(
    dev_env: WorkflowEnvironment, session_factory: sessionmaker[Session], deployments: list[str]
) -> None:
    client = dev_env.client
    first, second = deployments

    started = await _start(client, session_factory, first)
    again = await _start(client, session_factory, first)
    newer = await _start(client, session_factory, second)

    assert started == SchedulerStart(f"timekeeper-scheduler:{first}", started.run_id, 1, None)
    assert again == started
    # Generations only grow; a repeated allocation may use up a sequence value.
    assert newer.generation > started.generation
    assert newer == SchedulerStart(
        f"timekeeper-scheduler:{second}", newer.run_id, newer.generation, started.generation
    )
    assert await _status(client, started.workflow_id) == (
        started.run_id,
        WorkflowExecutionStatus.RUNNING,
    )
    description = await client.get_workflow_handle(started.workflow_id).describe()
    assert description.task_queue == f"timekeeper-{first}"
    history = await client.get_workflow_handle(started.workflow_id).fetch_history()
    attributes = history.events[0].workflow_execution_started_event_attributes
    [input] = await client.data_converter.decode(attributes.input.payloads, [SchedulerInput])
    assert input == SchedulerInput(generation=1, deployment_id=first, tick_seconds=60)
    with session_factory() as session:
        rows = session.execute(select(func.count()).select_from(SchedulerGeneration)).scalar()
        assert rows == 2


async def test_a_scheduler_is_started_with_the_deployments_leads(
    dev_env: WorkflowEnvironment, session_factory: sessionmaker[Session], deployments: list[str]
) -> None:
    """A worker (and the deploy hook and the audit) start the scheduler with the leads the
    deployment sets; without them it keeps `SchedulerInput`'s defaults."""
    client = dev_env.client
    first, second = deployments

    led = await ensure_scheduler(
        client,
        session_factory,
        deployment_id=first,
        task_queue=f"timekeeper-{first}",
        tick_seconds=60,
        options=SchedulerOptions(lead_ms=30_000, minute_lead_ms=20_000),
    )
    assert led is not None
    _register(session_factory, led, first)
    plain = await _start(client, session_factory, second)

    assert [await _input(client, started) for started in (led, plain)] == [
        SchedulerInput(
            led.generation, first, tick_seconds=60, lead_ms=30_000, minute_lead_ms=20_000
        ),
        SchedulerInput(plain.generation, second, tick_seconds=60, lead_ms=2000),
    ]


async def _input(client: Client, started: SchedulerStart) -> SchedulerInput:
    history = await client.get_workflow_handle(
        started.workflow_id, run_id=started.run_id
    ).fetch_history()
    attributes = history.events[0].workflow_execution_started_event_attributes
    [input] = await client.data_converter.decode(attributes.input.payloads, [SchedulerInput])
    assert isinstance(input, SchedulerInput)
    return input


async def test_a_worker_starts_a_scheduler_only_when_none_is_running(
    dev_env: WorkflowEnvironment, session_factory: sessionmaker[Session], deployments: list[str]
) -> None:
    client = dev_env.client
    deployment = deployments[0]

    started = await _ensure(client, session_factory, deployment)
    assert started is not None
    _register(session_factory, started, deployment)
    while_running = await _ensure(client, session_factory, deployment)
    await client.get_workflow_handle(started.workflow_id).terminate()
    restarted = await _ensure(client, session_factory, deployment)

    assert started == SchedulerStart(f"timekeeper-scheduler:{deployment}", started.run_id, 1, None)
    assert while_running is None
    assert restarted is not None
    assert (restarted.workflow_id, restarted.generation) == (started.workflow_id, 1)
    assert restarted.run_id != started.run_id
    assert await _status(client, started.workflow_id) == (
        restarted.run_id,
        WorkflowExecutionStatus.RUNNING,
    )


async def test_an_older_deployment_does_not_restart_over_a_newer_registered_one(
    dev_env: WorkflowEnvironment, session_factory: sessionmaker[Session], deployments: list[str]
) -> None:
    client = dev_env.client
    old, new = deployments
    old_start = await _start(client, session_factory, old)
    new_start = await _start(client, session_factory, new)
    _register(session_factory, new_start, new)
    await client.get_workflow_handle(new_start.workflow_id).terminate()

    assert await _ensure(client, session_factory, old) is None
    assert await _status(client, old_start.workflow_id) == (
        old_start.run_id,
        WorkflowExecutionStatus.RUNNING,
    )
    restarted = await _ensure(client, session_factory, new)
    assert restarted is not None
    assert (restarted.generation, restarted.previous) == (new_start.generation, 1)
