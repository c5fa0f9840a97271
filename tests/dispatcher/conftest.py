"""Dispatcher test helpers: triggers on real project branches, and a runner that records its runs.

The real RunnerWorkflow delivers to agents; these tests only need to know which runs the
scheduler started, so a stand-in registered under the same workflow name records each input.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from dispatcher.activities import DispatchActivities
from dispatcher.models import SchedulerInput, SchedulerOutcome, scheduler_workflow_id
from dispatcher.workflows import SchedulerWorkflow
from manage_db.branches import parse_branch, project_branch
from manage_db.store import ManageStore, create_branch
from manage_db.timestamps import to_db
from manage_db.triggers import TriggerRow, insert_trigger, read_trigger_at
from runner.contract import RUNNER_WORKFLOW, RunnerInput, runner_workflow_id
from runtime_db.schedules import get_schedules
from tests.factories import trigger_row

AGENT = "agent-1"
CREATED = "2026-01-01T00:00:00Z"


def trigger(
    trigger_id: str,
    *,
    next_run_at: str | None,
    cron: str | None = "*/5 * * * *",
    run_at: str | None = None,
    timezone: str = "UTC",
    grace: int = 3600,
    enabled: bool = True,
    version: int = 1,
    catchup: str = "latest",
) -> TriggerRow:
    return trigger_row(
        trigger_id,
        agent_id=AGENT,
        name=f"trigger {trigger_id}",
        enabled=enabled,
        cron_expression=None if run_at is not None else cron,
        run_at=run_at,
        cron_timezone=timezone,
        message_template="tick {{scheduled_for}}",
        max_retries=0,
        retry_delay_seconds=1,
        timeout_seconds=10,
        misfire_grace_seconds=grace,
        catchup=catchup,
        next_run_at=next_run_at,
        version=version,
        created_at=CREATED,
        updated_at=CREATED,
    )


async def park_before_midnight(env: WorkflowEnvironment) -> datetime:
    """Skip the server's clock to 30 s before the next UTC midnight; returns that midnight."""
    now = await env.get_current_time()
    midnight = (now + timedelta(minutes=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    midnight += timedelta(days=1)
    await env.sleep(midnight - timedelta(seconds=30) - now)
    return midnight.astimezone(UTC)


async def every5_and_once(
    env: WorkflowEnvironment, store: ManageStore, branch: str, seconds: int
) -> tuple[datetime, datetime]:
    """Park before midnight; a five-minute trigger due at midnight and a one-time trigger
    `seconds` after it. Returns (midnight, the one-time instant)."""
    midnight = await park_before_midnight(env)
    once = midnight + timedelta(seconds=seconds)
    add_triggers(
        store,
        branch,
        trigger("every5", next_run_at=to_db(midnight)),
        trigger("once", run_at=to_db(once), next_run_at=to_db(once)),
    )
    return midnight, once


def add_triggers(store: ManageStore, branch: str, *rows: TriggerRow) -> str:
    """Create the branch if needed and insert the rows in one commit; returns its hash."""
    with store.read() as conn:
        if branch not in {r[0] for r in conn.execute("select name from dolt_branches")}:
            create_branch(conn, branch)
    with store.write(branch, author="alice", message=f"add {len(rows)} triggers") as unit:
        for row in rows:
            insert_trigger(unit.conn, row)
    assert unit.commit_hash is not None
    return unit.commit_hash


def read_trigger(store: ManageStore, branch: str, trigger_id: str) -> TriggerRow:
    with store.read() as conn:
        row = read_trigger_at(conn, branch, trigger_id)
    assert row is not None
    return row


def schedule_of(
    session_factory: sessionmaker[Session], branch: str, trigger_id: str
) -> tuple[str | None, str | None, int]:
    """(next_run_at, last_scheduled_for, run_count) of a trigger's schedule state, as text."""
    project = parse_branch(branch)
    assert project is not None
    with session_factory() as session:
        rows = get_schedules(session, project.tenant_id, project.project_id, [trigger_id])
    row = rows[trigger_id]
    return (
        to_db(row.next_run_at) if row.next_run_at else None,
        to_db(row.last_scheduled_for) if row.last_scheduled_for else None,
        row.run_count,
    )


def invalid_reason(
    session_factory: sessionmaker[Session], branch: str, trigger_id: str
) -> str | None:
    project = parse_branch(branch)
    assert project is not None
    with session_factory() as session:
        rows = get_schedules(session, project.tenant_id, project.project_id, [trigger_id])
    return rows[trigger_id].invalid_reason


def commits(store: ManageStore, branch: str) -> list[tuple[str, str]]:
    """(committer, message) of a branch's commits, newest first."""
    with store.read() as conn:
        rows = conn.execute("select committer, message from dolt_log(?)", (branch,)).fetchall()
    return [(r[0], r[1]) for r in rows]


@pytest.fixture
def tenant() -> str:
    """A tenant of its own: runner workflow ids stay unique on a shared Temporal server."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def branch(tenant: str) -> str:
    return project_branch(tenant, "p1")


@dataclass
class Scene:
    """A dispatch test's world: a store, a runtime database, the Temporal dev server, a task
    queue no worker polls, and a tenant of its own with its project branch `p1`."""

    env: WorkflowEnvironment
    store: ManageStore
    sessions: sessionmaker[Session]
    task_queue: str
    tenant: str
    branch: str

    def activities(self, **kwargs: Any) -> DispatchActivities:
        return DispatchActivities(
            self.store, self.sessions, self.env.client, self.task_queue, **kwargs
        )

    def run_id(self, trigger_id: str, slot: str, project: str = "p1") -> str:
        return runner_workflow_id(self.tenant, project, AGENT, trigger_id, slot)


@pytest.fixture
def scene(
    dev_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    tenant: str,
    branch: str,
) -> Scene:
    return Scene(dev_env, manage_store, session_factory, task_queue, tenant, branch)


class RunRecorder:
    """Every RunnerInput the stand-in runner received, in arrival order."""

    def __init__(self) -> None:
        self.runs: list[RunnerInput] = []

    @activity.defn(name="test.record_run")
    def record(self, run: RunnerInput) -> None:
        self.runs.append(run)


@workflow.defn(name=RUNNER_WORKFLOW, sandboxed=False)
class RecordingRunner:
    @workflow.run
    async def run(self, run: RunnerInput) -> None:
        await workflow.execute_local_activity(
            "test.record_run", run, start_to_close_timeout=timedelta(seconds=10)
        )


@asynccontextmanager
async def scheduler_worker(
    client: Client, task_queue: str, activities: DispatchActivities, recorder: RunRecorder
) -> AsyncIterator[Worker]:
    """A worker running the scheduler, its activities, and the recording stand-in runner."""
    with ThreadPoolExecutor(max_workers=8) as executor:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[SchedulerWorkflow, RecordingRunner],
            activities=[*activities.callables(), recorder.record],
            activity_executor=executor,
        )
        async with worker:
            yield worker


async def start_scheduler(
    client: Client, task_queue: str, input: SchedulerInput
) -> WorkflowHandle[SchedulerWorkflow, SchedulerOutcome]:
    """Start the scheduler chain `input` describes, under its deployment's workflow id."""
    return await client.start_workflow(
        SchedulerWorkflow.run,
        input,
        id=scheduler_workflow_id(input.deployment_id),
        task_queue=task_queue,
    )


async def run_scheduler(
    client: Client,
    task_queue: str,
    activities: DispatchActivities,
    ticks: int,
    tick_seconds: int = 60,
    minute_lead_ms: int = 0,
) -> tuple[SchedulerOutcome, RunRecorder]:
    """Run generation 1 of deployment d1 for `ticks` ticks with a worker; what it started."""
    recorder = RunRecorder()
    async with scheduler_worker(client, task_queue, activities, recorder):
        handle = await start_scheduler(
            client,
            task_queue,
            SchedulerInput(
                generation=1,
                deployment_id="d1",
                tick_seconds=tick_seconds,
                stop_after_ticks=ticks,
                minute_lead_ms=minute_lead_ms,
            ),
        )
        outcome = await handle.result()
    return outcome, recorder
