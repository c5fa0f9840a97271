"""A handler's way into a project: its branch for reads, one Dolt commit per write, and the
runtime-side cancellations that follow a committed change.

The runtime DB is touched only after the Dolt commit succeeded: a failed write cancels nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from manage_api.context import ApiContext
from manage_api.inputs import PathScope
from manage_api.problems import Problem
from manage_db.branches import project_branch
from manage_db.store import BranchNotFound, Write
from runtime_db.invocations import cancel_pending


def _project_missing(scope: PathScope) -> Problem:
    return Problem(404, f"Project {scope.project_id} not found.")


@contextmanager
def project_read(ctx: ApiContext, scope: PathScope) -> Iterator[sqlite3.Connection]:
    try:
        with ctx.store.read(project_branch(scope.tenant_id, scope.project_id)) as conn:
            yield conn
    except BranchNotFound:
        raise _project_missing(scope) from None


@contextmanager
def project_write(ctx: ApiContext, scope: PathScope, message: str) -> Iterator[Write]:
    """One SQL transaction and one Dolt commit authored by the caller; 404 for no project."""
    branch = project_branch(scope.tenant_id, scope.project_id)
    try:
        with ctx.store.write(branch, author=scope.principal, message=message) as unit:
            yield unit
    except BranchNotFound:
        raise _project_missing(scope) from None


def cancel_runs(
    ctx: ApiContext,
    scope: PathScope,
    reason: str,
    *,
    agent_id: str | None = None,
    trigger_ids: list[str] | None = None,
) -> int:
    """Cancel pending invocations of some triggers (or of the whole project when None)."""
    with ctx.session_factory.begin() as session:
        if trigger_ids is None:
            return cancel_pending(
                session,
                tenant_id=scope.tenant_id,
                project_id=scope.project_id,
                reason=reason,
                now=ctx.now(),
                agent_id=agent_id,
            )
        return sum(
            cancel_pending(
                session,
                tenant_id=scope.tenant_id,
                project_id=scope.project_id,
                reason=reason,
                now=ctx.now(),
                agent_id=agent_id,
                trigger_id=trigger_id,
            )
            for trigger_id in trigger_ids
        )
