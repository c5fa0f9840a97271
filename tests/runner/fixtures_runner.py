"""Helpers for runner tests: definitions in a real doltlite store, a real worker, history reads.

Plain functions and context managers rather than fixtures, so the API tests can use them too.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.worker import Worker

from manage_db.agents import AgentRow, upsert_agent
from manage_db.branches import project_branch
from manage_db.projects import ProjectRow, get_project, insert_project
from manage_db.store import ManageStore, branch_heads, create_branch
from manage_db.timestamps import utc_now
from manage_db.triggers import TriggerRow, get_trigger, insert_trigger, replace_trigger
from runner.activities import RunnerActivities
from runner.contract import CURRENT_STEPS, RUNNER_WORKFLOW, RunnerInput, workflow_id_for
from runner.models import RunnerOutcome
from runner.workflows import RunnerWorkflow
from runtime_db.invocations import attempts_of, get_invocation
from runtime_db.models import Invocation, InvocationAttempt
from tests.factories import trigger_row as factory_row

HISTORIES = Path(__file__).parent / "histories"
TENANT = "acme"
PROJECT = "ops"
AGENT = "bot"
STAMP = "2024-01-01T00:00:00Z"
T = TypeVar("T")


def trigger_row(trigger_id: str = "daily", **fields: Any) -> TriggerRow:
    row = factory_row(
        trigger_id,
        agent_id=AGENT,
        name="Daily report",
        message_template="Report for {{scheduled_for}}",
        timeout_seconds=10,
        created_at=STAMP,
        updated_at=STAMP,
    )
    return replace(row, **fields)


def seed(
    store: ManageStore,
    agent_url: str | None,
    trigger: TriggerRow | None = None,
    *,
    protocol: str = "webhook",
    tenant_id: str = TENANT,
    project_id: str = PROJECT,
) -> TriggerRow:
    """A project with agent `bot` at `agent_url` (none when None) and `trigger`, in one commit."""
    trigger = trigger or trigger_row()
    branch = project_branch(tenant_id, project_id)
    with store.read() as conn:
        if branch not in branch_heads(conn):
            create_branch(conn, branch)
    with store.write(branch, author="test", message="seed") as unit:
        if get_project(unit.conn, project_id) is None:
            insert_project(unit.conn, ProjectRow(project_id, tenant_id, "Ops", None, STAMP, STAMP))
        if agent_url is not None:
            upsert_agent(
                unit.conn,
                AgentRow(trigger.agent_id, "Bot", agent_url, protocol, None, STAMP, STAMP),
            )
        insert_trigger(unit.conn, trigger)
    return trigger


def edit_trigger(
    store: ManageStore, trigger_id: str, *, bump_version: bool = True, **changes: Any
) -> TriggerRow:
    """Change a trigger as a user would (a new version), or as the dispatcher does (same one)."""
    with store.write(project_branch(TENANT, PROJECT), author="test", message="edit") as unit:
        current = get_trigger(unit.conn, trigger_id)
        assert current is not None
        version = current.version + 1 if bump_version else current.version
        updated = replace(current, version=version, **changes)
        assert replace_trigger(unit.conn, updated, expected_version=current.version)
    return updated


def scheduled_run(trigger: TriggerRow, scheduled_for: str = "2024-03-05T09:00:00Z") -> RunnerInput:
    slot = scheduled_for.replace("-", "").replace(":", "")
    return RunnerInput(
        tenant_id=TENANT,
        project_id=PROJECT,
        agent_id=trigger.agent_id,
        trigger_id=trigger.id,
        scheduled_for=scheduled_for,
        kind="scheduled",
        slot=slot,
        trigger_version=trigger.version,
        steps=CURRENT_STEPS,
    )


async def start_run(
    client: Client, task_queue: str, run: RunnerInput
) -> WorkflowHandle[Any, RunnerOutcome]:
    """Start as the dispatcher does: one id per trigger and instant, never reused."""
    return await client.start_workflow(
        RUNNER_WORKFLOW,
        run,
        id=workflow_id_for(run),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        result_type=RunnerOutcome,
    )


@asynccontextmanager
async def runner_worker(
    client: Client,
    task_queue: str,
    store: ManageStore,
    session_factory: sessionmaker[Session],
    http: httpx.AsyncClient,
    clock: Callable[[], datetime] = utc_now,
    **options: Any,
) -> AsyncIterator[Worker]:
    """A worker running RunnerWorkflow and its activities (on `clock`) until the block ends."""
    activities = RunnerActivities(store, session_factory, http, clock=clock)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[RunnerWorkflow],
            activities=activities.callables(),
            activity_executor=executor,
            **options,
        ) as worker:
            yield worker


def invocation(
    session_factory: sessionmaker[Session], invocation_id: str | uuid.UUID
) -> tuple[Invocation, list[InvocationAttempt]]:
    key = uuid.UUID(str(invocation_id))
    with session_factory() as session:
        row = get_invocation(session, key)
        assert row is not None
        return row, attempts_of(session, key)


def all_invocations(session_factory: sessionmaker[Session]) -> list[Invocation]:
    with session_factory() as session:
        return list(session.scalars(select(Invocation).order_by(Invocation.created_at)))


def attempt_summary(attempts: list[InvocationAttempt]) -> list[tuple[Any, ...]]:
    return [(a.attempt_number, a.status, a.http_status, a.error_class) for a in attempts]


async def timer_seconds(handle: WorkflowHandle[Any, Any]) -> list[float]:
    """Durations of the timers the workflow started: the waits between its attempts."""
    history = await handle.fetch_history()
    return [
        event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        for event in history.events
        if event.HasField("timer_started_event_attributes")
    ]


async def step_count(handle: WorkflowHandle[Any, Any]) -> tuple[int, int, int]:
    """(local activities, activity tasks, patch markers) the run recorded: what it cost the
    server."""
    history = await handle.fetch_history()
    markers = [e.marker_recorded_event_attributes.marker_name for e in history.events]
    tasks = sum(1 for e in history.events if e.HasField("activity_task_scheduled_event_attributes"))
    return markers.count("core_local_activity"), tasks, markers.count("core_patch")


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 20.0) -> T:
    """Poll `probe` until it returns a value: for waiting on a state, not on a duration."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def sleeping(handle: WorkflowHandle[Any, Any]) -> list[float] | None:
    """The run's timers once it has started one (it waits between attempts), else None."""
    return await timer_seconds(handle) or None


async def with_status(
    session_factory: sessionmaker[Session], workflow_id: str, status: str
) -> Invocation | None:
    with session_factory() as session:
        row = session.execute(
            select(Invocation).where(Invocation.workflow_id == workflow_id)
        ).scalar_one_or_none()
    return row if row is not None and row.status == status else None


async def keep_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With TIMEKEEPER_RECORD_HISTORIES=1, save the run's history for the replay test."""
    if os.environ.get("TIMEKEEPER_RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json())
