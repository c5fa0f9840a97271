"""Invocations and their attempts: the record of every delivery Timekeeper made or skipped.

Status moves `pending -> running -> completed | failed | cancelled | skipped`; terminal states
never change again. Functions take a session and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, Table, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from runtime_db.models import Invocation, InvocationAttempt

OPEN_STATUSES = ("pending", "running")
_ROWS_PER_STATEMENT = 1000
# `missed`: an occurrence the scheduler did not fire (beyond its misfire grace, or coalesced);
# its row is written by the dispatch that decided so, already ended.
TERMINAL_STATUSES = ("completed", "failed", "cancelled", "skipped", "missed")


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


def open_invocation(session: Session, key: InvocationKey, *, workflow_id: str) -> Invocation:
    """The run's row, locked until the transaction ends; created `pending` when it is missing.

    Dispatch records a scheduled run's row before starting it, so a begin finds it with one
    locking read; only a run without its row (a row removed since) inserts it first.
    """
    row = session.execute(
        select(Invocation).where(Invocation.workflow_id == workflow_id).with_for_update()
    ).scalar_one_or_none()
    if row is not None:
        return row
    created, _ = create_invocation(session, key, workflow_id=workflow_id)
    locked = _locked(session, created.id)
    assert locked is not None  # created in this transaction, or found by key
    return locked


# A run about to be started: (key, workflow id, trigger version, jittered start or None).
PendingRow = tuple[InvocationKey, str, int | None, datetime | None]


def record_pending(session: Session, runs: list[PendingRow]) -> int:
    """Rows for runs about to be started, in one statement: a queued run is visible as
    `pending` from its dispatch on. Idempotent: a run that already has its row keeps it.
    Returns how many rows were new."""
    rows = [
        _row_values(key, workflow_id, status="pending", trigger_version=version, fire_at=fire_at)
        for key, workflow_id, version, fire_at in runs
    ]
    return len(_insert_new(session, rows))


def record_missed(
    session: Session,
    missed: list[tuple[InvocationKey, str, str]],
    now: datetime,
    status: str = "missed",
) -> list[Invocation]:
    """Rows for occurrences not fired, each (key, workflow id it would have had, reason), ended
    as `missed` (or `skipped`, marked so by a user). Idempotent like `record_pending`; returns
    the rows that are new (unattached objects, for the alerts they raise)."""
    rows = [
        _row_values(key, workflow_id, status=status, status_reason=reason, finished_at=now)
        for key, workflow_id, reason in missed
    ]
    new = set(_insert_new(session, rows))
    return [Invocation(**row) for row in rows if row["id"] in new]


def _row_values(key: InvocationKey, workflow_id: str, **values: object) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "tenant_id": key.tenant_id,
        "project_id": key.project_id,
        "agent_id": key.agent_id,
        "trigger_id": key.trigger_id,
        "scheduled_for": key.scheduled_for,
        "kind": key.kind,
        "workflow_id": workflow_id,
        "cancel_requested": False,
        "attempt_count": 0,
        **values,
    }


def _insert_new(session: Session, rows: list[dict[str, object]]) -> list[uuid.UUID]:
    """Insert in statements of at most `_ROWS_PER_STATEMENT` rows (PostgreSQL takes 65,535
    parameters a statement); rows that exist already are kept as they are. Returns the ids of
    the rows inserted."""
    inserted: list[uuid.UUID] = []
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        result = session.execute(
            insert(Invocation).values(chunk).on_conflict_do_nothing().returning(Invocation.id)
        )
        inserted.extend(result.scalars())
    return inserted


def scheduled_instants(
    session: Session, since: datetime
) -> dict[tuple[str, str, str], set[datetime]]:
    """Per (tenant, project, trigger), the instants from `since` on that have a scheduled
    invocation, whatever its status: the occurrences dispatch accounted for."""
    rows = session.execute(
        select(
            Invocation.tenant_id,
            Invocation.project_id,
            Invocation.trigger_id,
            Invocation.scheduled_for,
        ).where(Invocation.kind == "scheduled", Invocation.scheduled_for >= since)
    )
    found: dict[tuple[str, str, str], set[datetime]] = {}
    for tenant_id, project_id, trigger_id, scheduled_for in rows:
        found.setdefault((tenant_id, project_id, trigger_id), set()).add(scheduled_for)
    return found


def _by_key(key: InvocationKey) -> Select[Invocation]:
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


def list_invocations(
    session: Session,
    *,
    tenant_id: str,
    project_id: str,
    agent_id: str | None = None,
    trigger_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[Invocation]:
    """Newest first by (created_at, id); `before` is the key of the last row already seen, so
    a page starts strictly after it whatever was inserted meanwhile (keyset paging)."""
    query = select(Invocation).where(
        Invocation.tenant_id == tenant_id, Invocation.project_id == project_id
    )
    if agent_id is not None:
        query = query.where(Invocation.agent_id == agent_id)
    if trigger_id is not None:
        query = query.where(Invocation.trigger_id == trigger_id)
    if status is not None:
        query = query.where(Invocation.status == status)
    if before is not None:
        query = query.where(tuple_(Invocation.created_at, Invocation.id) < tuple_(*before))
    query = query.order_by(Invocation.created_at.desc(), Invocation.id.desc()).limit(limit)
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
    return cast(CursorResult[Any], result).rowcount  # DML answers a CursorResult


def record_attempt(session: Session, attempt: InvocationAttempt) -> None:
    """Idempotent per (invocation, attempt number): a retried activity records once."""
    _insert_attempt(session, attempt)
    session.execute(
        update(Invocation)
        .where(
            Invocation.id == attempt.invocation_id,
            Invocation.attempt_count < attempt.attempt_number,
        )
        .values(attempt_count=attempt.attempt_number)
    )


# One statement for every attempt, its values bound at execution: built per call with the
# values inside, it cost more to construct and cache-key than to run (BENCHMARKS.md).
_INSERT_ATTEMPT = insert(cast(Table, InvocationAttempt.__table__)).on_conflict_do_nothing(
    constraint="attempts_key"
)


def _insert_attempt(session: Session, attempt: InvocationAttempt) -> None:
    columns = InvocationAttempt.__table__.columns
    session.execute(
        _INSERT_ATTEMPT, {c.key: getattr(attempt, c.key) for c in columns if c.key != "id"}
    )


def attempts_of(session: Session, invocation_id: uuid.UUID) -> list[InvocationAttempt]:
    return list(
        session.execute(
            select(InvocationAttempt)
            .where(InvocationAttempt.invocation_id == invocation_id)
            .order_by(InvocationAttempt.attempt_number)
        ).scalars()
    )


def lock_trigger(session: Session, key: InvocationKey) -> None:
    """Serialise begins of one trigger until the transaction ends, so two runs starting at once
    cannot both see "nothing running" and both deliver under `overlap_policy: skip`."""
    name = f"{key.tenant_id}:{key.project_id}:{key.agent_id}:{key.trigger_id}"
    session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))


WAITING = "waiting: "  # status_reason prefix of a pending run buffered behind a running one


def waiting_invocation(
    session: Session, key: InvocationKey, exclude: uuid.UUID | None = None
) -> uuid.UUID | None:
    """A pending invocation of the same trigger buffered behind a running one, if any."""
    query = _of_trigger(key, exclude).where(
        Invocation.status == "pending", Invocation.status_reason.startswith(WAITING)
    )
    return session.execute(query.limit(1)).scalar_one_or_none()


def mark_waiting(session: Session, invocation_id: uuid.UUID, reason: str) -> None:
    session.execute(
        update(Invocation)
        .where(Invocation.id == invocation_id, Invocation.status == "pending")
        .values(status_reason=WAITING + reason)
    )


def running_invocation(
    session: Session, key: InvocationKey, exclude: uuid.UUID | None = None
) -> uuid.UUID | None:
    """The oldest running invocation of the same trigger (any instant), if there is one."""
    query = _of_trigger(key, exclude).where(Invocation.status == "running")
    return session.execute(query.order_by(Invocation.started_at).limit(1)).scalar_one_or_none()


def _of_trigger(key: InvocationKey, exclude: uuid.UUID | None) -> Select[uuid.UUID]:
    """Ids of the invocations of the key's trigger (any instant), but `exclude`."""
    query = select(Invocation.id).where(
        Invocation.tenant_id == key.tenant_id,
        Invocation.project_id == key.project_id,
        Invocation.agent_id == key.agent_id,
        Invocation.trigger_id == key.trigger_id,
    )
    return query if exclude is None else query.where(Invocation.id != exclude)


def _locked(session: Session, invocation_id: uuid.UUID) -> Invocation | None:
    return session.get(Invocation, invocation_id, with_for_update=True, populate_existing=True)


def mark_running(
    session: Session,
    row: Invocation,
    *,
    now: datetime,
    message: str,
    trigger_version: int,
    max_attempts: int,
    deadline_at: datetime,
) -> Invocation:
    """pending -> running with what the run will deliver; any other status is left as it is.
    `row` is locked by this transaction (`open_invocation`), so it is read once, not again."""
    if row.status != "pending":
        return row
    row.status = "running"
    row.started_at = now
    row.message = message
    row.trigger_version = trigger_version
    row.max_attempts = max_attempts
    row.deadline_at = deadline_at
    session.flush()
    return row


def finish(
    session: Session, invocation_id: uuid.UUID, *, status: str, reason: str | None, now: datetime
) -> Invocation | None:
    """Close an open invocation with a terminal status; a terminal one keeps the status it has."""
    row, _ = close_invocation(session, invocation_id, status=status, reason=reason, now=now)
    return row


def finish_if_open(
    session: Session, invocation_id: uuid.UUID, *, status: str, reason: str | None, now: datetime
) -> bool:
    """`finish`, saying whether this call closed it (False: gone, or ended meanwhile)."""
    _, closed = close_invocation(session, invocation_id, status=status, reason=reason, now=now)
    return closed


def close_invocation(
    session: Session,
    invocation_id: uuid.UUID,
    *,
    status: str,
    reason: str | None,
    now: datetime,
    attempt: InvocationAttempt | None = None,
) -> tuple[Invocation | None, bool]:
    """`finish` on the row locked once: the row and whether this call closed it.

    With `attempt`, the attempt that ended the run is recorded in the same statements: its row,
    and the count written with the close (one UPDATE). A row ended meanwhile (a cancel that
    landed first) keeps its status and still counts the attempt, which was made.
    """
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"not a terminal status: {status}")
    row = _locked(session, invocation_id)
    if row is None:
        return None, False
    if attempt is not None:
        _insert_attempt(session, attempt)
        row.attempt_count = max(row.attempt_count, attempt.attempt_number)
    closed = row.status not in TERMINAL_STATUSES
    if closed:
        row.status = status
        row.status_reason = reason
        row.finished_at = now
    session.flush()
    return row, closed


def request_cancel(
    session: Session, invocation_id: uuid.UUID, *, reason: str, now: datetime
) -> tuple[Invocation | None, bool]:
    """Cancel an open invocation at once; True when this call changed it.

    A running invocation's in-flight attempt may still finish and be recorded; the runner checks
    `cancel_requested` before every attempt, so none starts after this.
    """
    row = _locked(session, invocation_id)
    if row is None or row.status in TERMINAL_STATUSES:
        return row, False
    row.status = "cancelled"
    row.status_reason = reason
    row.cancel_requested = True
    row.finished_at = now
    session.flush()
    return row, True


def attempt_blocker(session: Session, invocation_id: uuid.UUID) -> str | None:
    """Why no further attempt may start (the status that forbids it), or None when one may.

    Only a running invocation without a cancel request takes attempts: a cancel, or an operator
    closing it (the audit marks stale ones failed), stops the runner before its next attempt.
    """
    row = session.execute(
        select(Invocation.status, Invocation.cancel_requested).where(Invocation.id == invocation_id)
    ).one_or_none()
    if row is None:
        return "missing"
    if row.cancel_requested:
        return "cancelled"
    return None if row.status == "running" else row.status


def recorded_attempt(
    session: Session, invocation_id: uuid.UUID, attempt_number: int
) -> InvocationAttempt | None:
    """The attempt already recorded under this number, if any."""
    return session.execute(
        select(InvocationAttempt).where(
            InvocationAttempt.invocation_id == invocation_id,
            InvocationAttempt.attempt_number == attempt_number,
        )
    ).scalar_one_or_none()


def open_invocations(session: Session) -> list[Invocation]:
    """Every pending or running invocation, oldest first (the audit's read)."""
    return list(
        session.execute(
            select(Invocation)
            .where(Invocation.status.in_(OPEN_STATUSES))
            .order_by(Invocation.created_at, Invocation.id)
        ).scalars()
    )
