"""Runs of a trigger: run now, the invocations with their attempts, cancel and rerun.

Runs never deliver in the caller's process: a manual run or a rerun records a pending
invocation and starts a RunnerWorkflow, answering at once with both ids. Cancel marks the row
first (so no further attempt starts whatever happens next), then signals the workflow.
A scope with an agent and trigger addresses that trigger's invocations; without, the project's.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

from manage_db.branches import project_branch
from manage_db.triggers import TriggerRow, read_trigger_at
from runner.launch import LaunchedRun, LaunchFailed, signal_cancel, start_manual_run
from runtime_db.invocations import (
    TERMINAL_STATUSES,
    attempts_of,
    get_invocation,
    list_invocations,
    request_cancel,
)
from runtime_db.models import Invocation, InvocationAttempt
from service.context import ServiceContext
from service.errors import Conflict, NotFound, Unavailable, invalid
from service.inputs import InvocationQuery
from service.paging import Page, decode_cursor, page_of
from service.scope import Scope


@dataclass(frozen=True)
class InvocationDetail:
    invocation: Invocation
    attempts: list[InvocationAttempt]


def _holds(scope: Scope, row: Invocation) -> bool:
    return (
        row.tenant_id == scope.tenant_id
        and row.project_id == scope.project_id
        and scope.agent_id in ("", row.agent_id)
        and scope.trigger_id in ("", row.trigger_id)
    )


def _missing() -> NotFound:
    return NotFound("Invocation not found.")


def _read_trigger(
    ctx: ServiceContext, tenant_id: str, project_id: str, agent_id: str, trigger_id: str
) -> TriggerRow | None:
    """The trigger at its project's branch head, if it exists under that agent."""
    with ctx.store.read() as conn:
        trigger = read_trigger_at(conn, project_branch(tenant_id, project_id), trigger_id)
    return trigger if trigger is not None and trigger.agent_id == agent_id else None


async def _launch(
    ctx: ServiceContext, row: Scope | Invocation, kind: str, scheduled_for: datetime | None = None
) -> LaunchedRun:
    if ctx.temporal is None:
        raise Unavailable("Runs cannot be started: Temporal is not configured.")
    try:
        return await start_manual_run(
            ctx.temporal,
            ctx.session_factory,
            ctx.task_queue,
            tenant_id=row.tenant_id,
            project_id=row.project_id,
            agent_id=row.agent_id,
            trigger_id=row.trigger_id,
            kind=kind,
            now=ctx.now(),
            scheduled_for=scheduled_for,
        )
    except LaunchFailed:
        raise Unavailable("The run could not be started; try again.") from None


async def run_now(ctx: ServiceContext, scope: Scope) -> LaunchedRun:
    """A manual run of the scope's trigger, whether it is enabled or not."""
    trigger = await asyncio.to_thread(
        _read_trigger, ctx, scope.tenant_id, scope.project_id, scope.agent_id, scope.trigger_id
    )
    if trigger is None:
        raise NotFound("Trigger not found.")
    return await _launch(ctx, scope, "manual")


def _key(row: Invocation) -> tuple[str, str]:
    return (row.created_at.isoformat(), str(row.id))


def _before(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    created_at, invocation_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(created_at), uuid.UUID(invocation_id)
    except ValueError:
        raise invalid("cursor", "is not a cursor this list returned") from None


def list_invocations_of(
    ctx: ServiceContext, scope: Scope, query: InvocationQuery
) -> Page[Invocation]:
    """Newest first, a page at a time, stable while invocations are added."""
    before = _before(query.cursor)
    with ctx.session_factory() as session:
        rows = list_invocations(
            session,
            tenant_id=scope.tenant_id,
            project_id=scope.project_id,
            agent_id=scope.agent_id or None,
            trigger_id=scope.trigger_id or None,
            status=query.status,
            limit=query.limit + 1,
            before=before,
        )
    return page_of(rows, query.limit, _key)


def get_invocation_of(
    ctx: ServiceContext, scope: Scope, invocation_id: uuid.UUID
) -> InvocationDetail:
    with ctx.session_factory() as session:
        row = get_invocation(session, invocation_id)
        if row is None or not _holds(scope, row):
            raise _missing()
        return InvocationDetail(row, attempts_of(session, invocation_id))


def _mark_cancelled(ctx: ServiceContext, scope: Scope, invocation_id: uuid.UUID) -> Invocation:
    with ctx.session_factory.begin() as session:
        row = get_invocation(session, invocation_id)
        if row is None or not _holds(scope, row):
            raise _missing()
        row, changed = request_cancel(
            session, invocation_id, reason=f"cancelled by {scope.principal}", now=ctx.now()
        )
        assert row is not None
        if not changed:
            raise Conflict(f"The invocation has already ended ({row.status}).")
        return row


async def cancel_invocation(
    ctx: ServiceContext, scope: Scope, invocation_id: uuid.UUID
) -> Invocation:
    """Cancel an open invocation; Conflict when it has already ended."""
    row = await asyncio.to_thread(_mark_cancelled, ctx, scope, invocation_id)
    if ctx.temporal is not None:
        await signal_cancel(ctx.temporal, row.workflow_id)
    return row


async def rerun_invocation(
    ctx: ServiceContext, scope: Scope, invocation_id: uuid.UUID
) -> LaunchedRun:
    """Run a finished invocation again, for its original instant."""
    original = (await asyncio.to_thread(get_invocation_of, ctx, scope, invocation_id)).invocation
    if original.status not in TERMINAL_STATUSES:
        raise Conflict(f"The invocation is still {original.status}; cancel it first.")
    trigger = await asyncio.to_thread(
        _read_trigger,
        ctx,
        original.tenant_id,
        original.project_id,
        original.agent_id,
        original.trigger_id,
    )
    if trigger is None:
        raise Conflict("The invocation's trigger no longer exists.")
    return await _launch(ctx, original, "rerun", scheduled_for=original.scheduled_for)
