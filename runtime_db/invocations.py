"""Invocations and their attempts: the record of every delivery Timekeeper made or skipped.

Status moves `pending -> running -> completed | failed | cancelled | skipped`; terminal states
never change again. Functions take a session and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from runtime_db.models import Invocation, InvocationAttempt

OPEN_STATUSES = ("pending", "running")
TERMINAL_STATUSES = ("completed", "failed", "cancelled", "skipped")
STATUSES = OPEN_STATUSES + TERMINAL_STATUSES


@dataclass(frozen=True)
class InvocationKey:
    tenant_id: str
    project_id: str
    agent_id: str
    trigger_id: str
    scheduled_for: datetime
    kind: str  # scheduled | manual | rerun


def create_invocation(
    session: Session,
    key: InvocationKey,
    *,
    workflow_id: str,
    invocation_id: uuid.UUID | None = None,
    status: str = "pending",
    status_reason: str | None = None,
) -> tuple[Invocation, bool]:
    """Create the row for `key` once; a repeat returns the existing row and False."""
    new_id = invocation_id or uuid.uuid4()
    inserted = session.execute(
        insert(Invocation)
        .values(
            id=new_id,
            tenant_id=key.tenant_id,
            project_id=key.project_id,
            agent_id=key.agent_id,
            trigger_id=key.trigger_id,
            scheduled_for=key.scheduled_for,
            kind=key.kind,
            workflow_id=workflow_id,
            status=status,
            status_reason=status_reason,
            cancel_requested=False,
            attempt_count=0,
        )
        .on_conflict_do_nothing()
        .returning(Invocation.id)
    ).scalar_one_or_none()
    row = session.execute(
        select(Invocation).where(Invocation.workflow_id == workflow_id)
    ).scalar_one_or_none()
    if row is None:
        row = session.execute(_by_key(key)).scalar_one()
    return row, inserted is not None


def _by_key(key: InvocationKey) -> Select[tuple[Invocation]]:
    return select(Invocation).where(
        Invocation.tenant_id == key.tenant_id,
        Invocation.project_id == key.project_id,
        Invocation.agent_id == key.agent_id,
        Invocation.trigger_id == key.trigger_id,
        Invocation.scheduled_for == key.scheduled_for,
        Invocation.kind == key.kind,
    )


def get_invocation(session: Session, invocation_id: uuid.UUID) -> Invocation | None:
    return session.get(Invocation, invocation_id)


def get_by_workflow_id(session: Session, workflow_id: str) -> Invocation | None:
    return session.execute(
        select(Invocation).where(Invocation.workflow_id == workflow_id)
    ).scalar_one_or_none()


def list_invocations(
    session: Session,
    *,
    tenant_id: str,
    project_id: str,
    agent_id: str | None = None,
    trigger_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Invocation]:
    """Newest first."""
    query = select(Invocation).where(
        Invocation.tenant_id == tenant_id, Invocation.project_id == project_id
    )
    if agent_id is not None:
        query = query.where(Invocation.agent_id == agent_id)
    if trigger_id is not None:
        query = query.where(Invocation.trigger_id == trigger_id)
    if status is not None:
        query = query.where(Invocation.status == status)
    query = query.order_by(Invocation.created_at.desc(), Invocation.id).limit(limit).offset(offset)
    return list(session.execute(query).scalars())


def cancel_pending(
    session: Session,
    *,
    tenant_id: str,
    project_id: str,
    reason: str,
    now: datetime,
    agent_id: str | None = None,
    trigger_id: str | None = None,
) -> int:
    """Cancel pending invocations of a trigger (or agent, or project); running ones finish."""
    query = update(Invocation).where(
        Invocation.tenant_id == tenant_id,
        Invocation.project_id == project_id,
        Invocation.status == "pending",
    )
    if agent_id is not None:
        query = query.where(Invocation.agent_id == agent_id)
    if trigger_id is not None:
        query = query.where(Invocation.trigger_id == trigger_id)
    result = session.execute(
        query.values(
            status="cancelled", status_reason=reason, cancel_requested=True, finished_at=now
        )
    )
    return result.rowcount


def count_running(session: Session, key: InvocationKey, exclude: uuid.UUID | None = None) -> int:
    """Running invocations of the same trigger (any instant): the overlap policy's question."""
    query = select(Invocation.id).where(
        Invocation.tenant_id == key.tenant_id,
        Invocation.project_id == key.project_id,
        Invocation.agent_id == key.agent_id,
        Invocation.trigger_id == key.trigger_id,
        Invocation.status == "running",
    )
    if exclude is not None:
        query = query.where(Invocation.id != exclude)
    return len(session.execute(query).all())


def record_attempt(session: Session, attempt: InvocationAttempt) -> None:
    """Idempotent per (invocation, attempt number): a retried activity records once."""
    values = {
        c.name: getattr(attempt, c.key)
        for c in InvocationAttempt.__table__.columns
        if c.name != "id"
    }
    session.execute(
        insert(InvocationAttempt).values(**values).on_conflict_do_nothing(constraint="attempts_key")
    )
    session.execute(
        update(Invocation)
        .where(
            Invocation.id == attempt.invocation_id,
            Invocation.attempt_count < attempt.attempt_number,
        )
        .values(attempt_count=attempt.attempt_number)
    )


def attempts_of(session: Session, invocation_id: uuid.UUID) -> list[InvocationAttempt]:
    return list(
        session.execute(
            select(InvocationAttempt)
            .where(InvocationAttempt.invocation_id == invocation_id)
            .order_by(InvocationAttempt.attempt_number)
        ).scalars()
    )
