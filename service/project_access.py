"""The way into a project: its branch for reads, and the one choke point every write passes.

A project write is one SQL transaction closed by one Dolt commit authored by the caller; the
runtime side (re-syncing the branch into schedule state, cancelling pending runs) happens in
`_after_commit`, only once the commit succeeded: a failed write changes nothing anywhere. If the
sync itself fails (or the process dies before it), the request still succeeds: its commit moved
the branch head, so the scheduler's next tick syncs the branch.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dispatcher.schedule_sync import sync_branch
from manage_db.branches import project_branch
from manage_db.store import BranchNotFound, Write
from runtime_db.invocations import cancel_pending
from service.context import ServiceContext
from service.errors import NotFound
from service.scope import Scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Cancellation:
    reason: str
    agent_id: str | None
    trigger_ids: tuple[str, ...] | None  # None: the whole project (or agent)


@dataclass
class ProjectWrite:
    """An open write on a project's branch, and the follow-ups its commit will trigger."""

    unit: Write
    cancellations: list[_Cancellation] = field(default_factory=list)

    @property
    def conn(self) -> sqlite3.Connection:
        return self.unit.conn

    @property
    def message(self) -> str:
        return self.unit.message

    @message.setter
    def message(self, value: str) -> None:
        self.unit.message = value

    def cancel_pending(
        self, reason: str, *, agent_id: str | None = None, trigger_ids: list[str] | None = None
    ) -> None:
        """After the commit, cancel the pending runs of these triggers (all when None)."""
        ids = tuple(trigger_ids) if trigger_ids is not None else None
        if ids == ():
            return
        self.cancellations.append(_Cancellation(reason, agent_id, ids))


def project_missing(project_id: str) -> NotFound:
    return NotFound(f"Project {project_id} not found.")


@contextmanager
def project_read(ctx: ServiceContext, scope: Scope) -> Iterator[sqlite3.Connection]:
    try:
        with ctx.store.read(project_branch(scope.tenant_id, scope.project_id)) as conn:
            yield conn
    except BranchNotFound:
        raise project_missing(scope.project_id) from None


@contextmanager
def project_write(ctx: ServiceContext, scope: Scope, message: str) -> Iterator[ProjectWrite]:
    """The choke point of every project change: one commit by the caller, then `_after_commit`."""
    branch = project_branch(scope.tenant_id, scope.project_id)
    try:
        with ctx.store.write(branch, author=scope.principal, message=message) as unit:
            write = ProjectWrite(unit)
            yield write
    except BranchNotFound:
        raise project_missing(scope.project_id) from None
    _after_commit(ctx, scope, write)


def sync_schedules(ctx: ServiceContext, scope: Scope) -> None:
    """Bring the project's schedule state up to its branch head (or drop it, branch gone)."""
    branch = project_branch(scope.tenant_id, scope.project_id)
    try:
        with ctx.session_factory.begin() as session:
            sync_branch(ctx.store, session, branch, ctx.now())
    except Exception:
        log.warning("schedule sync of %s failed; the next tick syncs it", branch, exc_info=True)


def _after_commit(ctx: ServiceContext, scope: Scope, write: ProjectWrite) -> None:
    """The runtime side of a committed project change."""
    if write.unit.commit_hash is not None:
        sync_schedules(ctx, scope)
    if not write.cancellations:
        return
    now = ctx.now()
    with ctx.session_factory.begin() as session:
        for cancel in write.cancellations:
            for trigger_id in cancel.trigger_ids or (None,):
                cancel_pending(
                    session,
                    tenant_id=scope.tenant_id,
                    project_id=scope.project_id,
                    reason=cancel.reason,
                    now=now,
                    agent_id=cancel.agent_id,
                    trigger_id=trigger_id,
                )
