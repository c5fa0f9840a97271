"""Helpers for audit tests: projects and triggers in a real doltlite store, invocation rows in
a real PostgreSQL, a real scheduler worker on the Temporal dev server.

The faulty states are reached the way production reaches them wherever a path exists: a user
disable committed without the cancel that should follow it, a migration without a backfill.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from audit.run import AuditContext
from dispatcher.activities import DispatchActivities
from dispatcher.schedule_sync import sync_branch
from dispatcher.workflows import SchedulerWorkflow
from manage_db.branches import project_branch
from manage_db.next_run import Schedule, initial_next_run
from manage_db.projects import ProjectRow, get_project, insert_project
from manage_db.store import ManageStore, branch_heads, create_branch
from manage_db.timestamps import from_db, to_db
from manage_db.triggers import TriggerRow, get_trigger, insert_trigger, replace_trigger
from runtime_db.invocations import InvocationKey, create_invocation, mark_running
from runtime_db.models import Invocation
from runtime_db.scheduler_state import current_state
from tests.factories import trigger_row as factory_row

NOW = datetime(2030, 1, 7, 10, 0, 0, tzinfo=UTC)
TICK = 60
STAMP = "2030-01-01T00:00:00Z"
T = TypeVar("T")


def trigger_row(trigger_id: str, **fields: Any) -> TriggerRow:
    """A daily 09:00 UTC trigger, last saved at NOW, whose next_run_at is computed as the API
    computes it then."""
    row = factory_row(
        trigger_id,
        max_retries=2,
        retry_delay_seconds=10,
        created_at=STAMP,
        updated_at=to_db(NOW),
    )
    row = replace(row, **fields)
    if "next_run_at" not in fields and row.enabled:
        schedule = Schedule(row.cron_expression, row.cron_timezone, from_db(row.run_at))
        row = replace(row, next_run_at=to_db(initial_next_run(schedule, NOW)))  # type: ignore[arg-type]
    return row


def add_triggers(
    store: ManageStore,
    sessions: sessionmaker[Session] | None,
    tenant_id: str,
    project_id: str,
    *triggers: TriggerRow,
) -> str:
    """Create the project (branch and row) if needed, then insert the triggers in one commit,
    and sync the branch into schedule state as the API does (unless `sessions` is None, as when
    that sync was lost)."""
    branch = project_branch(tenant_id, project_id)
    with store.read() as conn:
        if branch not in branch_heads(conn):
            create_branch(conn, branch)
    with store.write(branch, author="test", message="seed") as unit:
        if get_project(unit.conn, project_id) is None:
            insert_project(
                unit.conn, ProjectRow(project_id, tenant_id, project_id, None, STAMP, STAMP)
            )
        for trigger in triggers:
            insert_trigger(unit.conn, trigger)
    if sessions is not None:
        sync(store, sessions, branch)
    return branch


def sync(store: ManageStore, sessions: sessionmaker[Session], branch: str) -> None:
    with sessions.begin() as session:
        sync_branch(store, session, branch, NOW)


def user_disable(store: ManageStore, tenant_id: str, project_id: str, trigger_id: str) -> None:
    """What the API's disable commits: enabled off, next_run_at cleared, a new version.

    The API then cancels pending invocations in the runtime store; a crash between the two
    leaves them orphaned, which is the state these tests start from.
    """
    branch = project_branch(tenant_id, project_id)
    with store.write(branch, author="alice", message=f"disable {trigger_id}") as unit:
        current = get_trigger(unit.conn, trigger_id)
        assert current is not None
        disabled = replace(current, enabled=False, next_run_at=None, version=current.version + 1)
        assert replace_trigger(unit.conn, disabled, expected_version=current.version)


def open_invocation(
    session_factory: sessionmaker[Session],
    tenant_id: str,
    project_id: str,
    trigger_id: str,
    *,
    scheduled_for: datetime,
    kind: str = "scheduled",
    started_at: datetime | None = None,
    trigger_version: int = 1,
    deadline_at: datetime | None = None,
    created_at: datetime | None = None,
) -> uuid.UUID:
    """A pending invocation, made running (as the runner's begin does) when `started_at` is set."""
    key = InvocationKey(tenant_id, project_id, "bot", trigger_id, scheduled_for, kind)
    workflow_id = f"trigger-run:{tenant_id}:{project_id}:bot:{trigger_id}:{uuid.uuid4().hex}"
    with session_factory.begin() as session:
        row, _ = create_invocation(session, key, workflow_id=workflow_id)
        if started_at is not None:
            mark_running(
                session,
                row,
                now=started_at,
                message="hello",
                trigger_version=trigger_version,
                max_attempts=3,
                deadline_at=deadline_at or started_at + timedelta(hours=1),
            )
        if created_at is not None:
            session.execute(
                update(Invocation).where(Invocation.id == row.id).values(created_at=created_at)
            )
        return row.id


def clear_deadline(session_factory: sessionmaker[Session], invocation_id: uuid.UUID) -> None:
    """A row from before the runner recorded deadlines: the bound comes from the trigger."""
    with session_factory.begin() as session:
        session.execute(
            update(Invocation).where(Invocation.id == invocation_id).values(deadline_at=None)
        )


def invocation_state(
    session_factory: sessionmaker[Session], invocation_id: uuid.UUID
) -> tuple[str, str | None, bool, datetime | None]:
    with session_factory() as session:
        row = session.get(Invocation, invocation_id)
        assert row is not None
        return row.status, row.status_reason, row.cancel_requested, row.finished_at


def audit_context(
    store: ManageStore,
    session_factory: sessionmaker[Session],
    temporal: Client | None = None,
    **overrides: Any,
) -> AuditContext:
    ctx = AuditContext(
        store=store,
        session_factory=session_factory,
        temporal=temporal,
        tick_seconds=TICK,
        task_queue="unused",
        deployment_id="unused",
        now=lambda: NOW,
    )
    return replace(ctx, **overrides)


def by_check(document: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if f["check"] == check]


async def eventually(probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    """Poll `probe` until it returns a value: waiting on a state, never on a duration."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(probe)
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def registered_run(session_factory: sessionmaker[Session]) -> Callable[[], tuple[int, str] | None]:
    def probe() -> tuple[int, str] | None:
        with session_factory() as session:
            state = current_state(session)
            if state is None or state.run_id is None:
                return None
            return state.generation, state.run_id

    return probe


@asynccontextmanager
async def scheduler_worker(
    client: Client, task_queue: str, store: ManageStore, session_factory: sessionmaker[Session]
) -> AsyncIterator[Worker]:
    """The real SchedulerWorkflow and its activities, polling `task_queue` until the block ends."""
    activities = DispatchActivities(store, session_factory, client, task_queue)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[SchedulerWorkflow],
            activities=activities.callables(),
            activity_executor=executor,
        ) as worker:
            yield worker


@pytest.fixture
def deployment() -> str:
    """A deployment id unique to the test: the dev server outlives it."""
    return f"audit-{uuid.uuid4().hex[:12]}"
