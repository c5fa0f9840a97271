"""Starting manual runs and reruns, and signalling a cancel: what the API asks of the runner.

A manual run goes through RunnerWorkflow like a scheduled one (durable, retried, recorded) and
never delivers inside the API process. Its invocation row is created here, before the start, so
the API can answer at once with an id that is already listed as `pending`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from manage_db.timestamps import from_db, to_db
from runner.activities import invocation_key
from runner.contract import CURRENT_STEPS, RUNNER_WORKFLOW, RunnerInput, workflow_id_for
from runner.models import CANCEL_SIGNAL
from runtime_db.invocations import (
    InvocationKey,
    PendingRow,
    create_invocation,
    finish,
    record_pending,
)

log = logging.getLogger(__name__)

MANUAL_KINDS = ("manual", "rerun")


class LaunchFailed(RuntimeError):
    """Temporal refused or did not answer the start; the invocation row was closed as failed."""


@dataclass(frozen=True)
class LaunchedRun:
    invocation_id: uuid.UUID
    workflow_id: str


async def start_manual_run(
    client: Client,
    session_factory: sessionmaker[Session],
    task_queue: str,
    *,
    tenant_id: str,
    project_id: str,
    agent_id: str,
    trigger_id: str,
    kind: str,
    now: datetime,
    scheduled_for: datetime | None = None,
) -> LaunchedRun:
    """Record a pending invocation, then start its runner workflow.

    `scheduled_for` is what the message renders (a rerun repeats the original instant); it
    defaults to `now`. The row's own `scheduled_for` is `now` to the microsecond, so manual runs
    and reruns of one trigger never collide on the invocation key.
    """
    if kind not in MANUAL_KINDS:
        raise ValueError(f"kind must be one of {MANUAL_KINDS}, got {kind!r}")
    run = RunnerInput(
        tenant_id=tenant_id,
        project_id=project_id,
        agent_id=agent_id,
        trigger_id=trigger_id,
        scheduled_for=to_db(scheduled_for or now),
        kind=kind,
        slot=f"manual-{uuid.uuid4()}",
        steps=CURRENT_STEPS,
    )
    workflow_id = workflow_id_for(run)
    invocation_id = await asyncio.to_thread(_create_pending, session_factory, run, workflow_id, now)
    try:
        await client.start_workflow(
            RUNNER_WORKFLOW,
            run,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except RPCError as exc:
        # Closing the row keeps the record honest; should the start have gone through after
        # all, the workflow finds its invocation terminal and delivers nothing.
        reason = f"could not start the runner workflow: {exc.message}"
        await asyncio.to_thread(_close_unstarted, session_factory, invocation_id, reason, now)
        raise LaunchFailed(reason) from exc
    return LaunchedRun(invocation_id, workflow_id)


async def signal_cancel(client: Client, workflow_id: str) -> None:
    """Wake a run sleeping between retries; harmless when the run has ended or never started
    (the row is already cancelled, and the runner checks it before every attempt)."""
    try:
        await client.get_workflow_handle(workflow_id).signal(CANCEL_SIGNAL)
    except RPCError as exc:
        log.info("cancel signal to %s not delivered: %s", workflow_id, exc.message)


def _create_pending(
    session_factory: sessionmaker[Session], run: RunnerInput, workflow_id: str, now: datetime
) -> uuid.UUID:
    key = InvocationKey(
        tenant_id=run.tenant_id,
        project_id=run.project_id,
        agent_id=run.agent_id,
        trigger_id=run.trigger_id,
        scheduled_for=now,
        kind=run.kind,
    )
    with session_factory.begin() as session:
        row, _ = create_invocation(session, key, workflow_id=workflow_id)
        return row.id


def _close_unstarted(
    session_factory: sessionmaker[Session], invocation_id: uuid.UUID, reason: str, now: datetime
) -> None:
    with session_factory.begin() as session:
        finish(session, invocation_id, status="failed", reason=reason, now=now)


async def start_backfill(
    client: Client,
    session_factory: sessionmaker[Session],
    task_queue: str,
    runs: list[RunnerInput],
) -> int:
    """Record every backfill run as `pending` in one statement, then start them in order.

    Each run's workflow id is made from its instant, so a repeated backfill records nothing new
    and starts nothing twice. Returns how many runs were started now."""
    await asyncio.to_thread(_record_pending, session_factory, [pending_row(run) for run in runs])
    started = 0
    for run in runs:
        try:
            await client.start_workflow(
                RUNNER_WORKFLOW,
                run,
                id=workflow_id_for(run),
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            continue
        except RPCError as exc:
            raise LaunchFailed(f"could not start the runner workflow: {exc.message}") from exc
        started += 1
    return started


def pending_row(run: RunnerInput) -> PendingRow:
    """How a run about to be started is recorded `pending` (`record_pending`'s row)."""
    return invocation_key(run), workflow_id_for(run), run.trigger_version, from_db(run.fire_at)


def _record_pending(session_factory: sessionmaker[Session], rows: list[PendingRow]) -> None:
    with session_factory.begin() as session:
        record_pending(session, rows)
