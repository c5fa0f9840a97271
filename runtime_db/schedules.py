"""Schedule state: where each trigger stands, synced from its definition and moved by dispatch.

Functions take a session and never commit; the caller owns the transaction. Writers of one
project's rows serialize on `lock_branch`, so the last sync to run is the one that read the
newest head.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    DateTime,
    Integer,
    Select,
    SQLColumnExpression,
    String,
    Text,
    cast,
    column,
    delete,
    func,
    select,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from runtime_db.models import BranchSync, TriggerSchedule


@dataclass(frozen=True)
class ScheduleKey:
    tenant_id: str
    project_id: str
    trigger_id: str


@dataclass(frozen=True)
class Definition:
    """What a sync takes from one trigger definition on a project branch."""

    tenant_id: str
    project_id: str
    trigger_id: str
    agent_id: str
    version: int
    schedule_key: str
    enabled: bool
    cron_expression: str | None
    cron_timezone: str
    run_at: datetime | None
    misfire_grace_seconds: int
    catchup: str
    next_run_at: datetime | None  # as computed when the definition was saved
    last_scheduled_for: datetime | None
    invalid_reason: str | None = None
    jitter_seconds: int = 0
    end_at: datetime | None = None
    max_runs: int | None = None
    skipped: tuple[str, ...] = ()  # UTC instants as stored text


@dataclass(frozen=True)
class SyncCounts:
    inserted: int = 0
    updated: int = 0
    rescheduled: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class DueSchedule:
    """A due row as dispatch reads it: the definition inputs and the values to compare-and-set."""

    tenant_id: str
    project_id: str
    trigger_id: str
    agent_id: str
    definition_version: int
    cron_expression: str | None
    cron_timezone: str
    run_at: datetime | None
    misfire_grace_seconds: int
    catchup: str
    next_run_at: datetime
    run_count: int
    jitter_seconds: int = 0
    end_at: datetime | None = None
    max_runs: int | None = None
    skipped: list[str] | None = None

    @property
    def key(self) -> ScheduleKey:
        return ScheduleKey(self.tenant_id, self.project_id, self.trigger_id)


@dataclass(frozen=True)
class DueBatch:
    schedules: list[DueSchedule]
    total_due: int  # due rows in all, of which `schedules` is the fair, bounded selection


def lock_branch(session: Session, branch: str) -> None:
    """Serialize the writers of one project's schedule rows until the transaction ends."""
    session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(branch, 0))))


def synced_heads(session: Session) -> dict[str, str]:
    return {row.branch: row.head for row in session.execute(select(BranchSync)).scalars()}


def record_head(session: Session, branch: str, head: str, now: datetime) -> None:
    session.execute(
        insert(BranchSync)
        .values(branch=branch, head=head, synced_at=now)
        .on_conflict_do_update(
            index_elements=[BranchSync.branch], set_={"head": head, "synced_at": now}
        )
    )


def forget_project(session: Session, branch: str, tenant_id: str, project_id: str) -> int:
    """Drop a deleted project's rows and its sync mark; how many schedule rows went."""
    session.execute(delete(BranchSync).where(BranchSync.branch == branch))
    result = session.execute(
        delete(TriggerSchedule).where(
            TriggerSchedule.tenant_id == tenant_id, TriggerSchedule.project_id == project_id
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def project_schedules(session: Session, tenant_id: str, project_id: str) -> list[TriggerSchedule]:
    return list(
        session.execute(
            select(TriggerSchedule)
            .where(TriggerSchedule.tenant_id == tenant_id, TriggerSchedule.project_id == project_id)
            .order_by(TriggerSchedule.trigger_id)
        ).scalars()
    )


def get_schedules(
    session: Session, tenant_id: str, project_id: str, trigger_ids: Iterable[str]
) -> dict[str, TriggerSchedule]:
    ids = list(trigger_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(TriggerSchedule).where(
            TriggerSchedule.tenant_id == tenant_id,
            TriggerSchedule.project_id == project_id,
            TriggerSchedule.trigger_id.in_(ids),
        )
    ).scalars()
    return {row.trigger_id: row for row in rows}


def all_schedules(session: Session) -> list[TriggerSchedule]:
    """Every row, for the audit."""
    return list(
        session.execute(
            select(TriggerSchedule).order_by(
                TriggerSchedule.tenant_id, TriggerSchedule.project_id, TriggerSchedule.trigger_id
            )
        ).scalars()
    )


def apply_definitions(
    session: Session,
    tenant_id: str,
    project_id: str,
    definitions: list[Definition],
    now: datetime,
) -> SyncCounts:
    """Make one project's rows match its definitions (the whole project: absent ones go).

    A row whose schedule key is unchanged keeps its position (`next_run_at`, `last_scheduled_for`,
    `run_count`) and takes the new version: an edit of the message does not move the schedule.
    A new or rescheduled trigger takes the `next_run_at` its definition was saved with.
    """
    existing = {row.trigger_id: row for row in project_schedules(session, tenant_id, project_id)}
    inserted = updated = rescheduled = 0
    for d in definitions:
        row = existing.pop(d.trigger_id, None)
        if row is None:
            session.add(_new_row(d, now))
            inserted += 1
            continue
        if row.definition_version == d.version and row.schedule_key == d.schedule_key:
            continue
        same_schedule = row.schedule_key == d.schedule_key
        row.agent_id = d.agent_id
        row.definition_version = d.version
        row.enabled = d.enabled
        row.cron_expression = d.cron_expression
        row.cron_timezone = d.cron_timezone
        row.run_at = d.run_at
        row.misfire_grace_seconds = d.misfire_grace_seconds
        row.catchup = d.catchup
        row.jitter_seconds = d.jitter_seconds
        row.end_at = d.end_at
        row.max_runs = d.max_runs
        row.skipped = list(d.skipped)
        row.updated_at = now
        if not same_schedule:
            row.schedule_key = d.schedule_key
            row.next_run_at = d.next_run_at if d.enabled else None
            row.invalid_reason = d.invalid_reason
            row.completed_reason = None
            rescheduled += 1
        updated += 1
    for gone in existing.values():
        session.delete(gone)
    session.flush()
    return SyncCounts(inserted, updated, rescheduled, len(existing))


def _new_row(d: Definition, now: datetime) -> TriggerSchedule:
    return TriggerSchedule(
        tenant_id=d.tenant_id,
        project_id=d.project_id,
        trigger_id=d.trigger_id,
        agent_id=d.agent_id,
        definition_version=d.version,
        schedule_key=d.schedule_key,
        enabled=d.enabled,
        cron_expression=d.cron_expression,
        cron_timezone=d.cron_timezone,
        run_at=d.run_at,
        misfire_grace_seconds=d.misfire_grace_seconds,
        catchup=d.catchup,
        next_run_at=d.next_run_at if d.enabled else None,
        last_scheduled_for=d.last_scheduled_for,
        run_count=0,
        invalid_reason=d.invalid_reason,
        updated_at=now,
        jitter_seconds=d.jitter_seconds,
        end_at=d.end_at,
        max_runs=d.max_runs,
        skipped=list(d.skipped),
    )


def due_batch(
    session: Session,
    as_of: datetime,
    per_project: int,
    limit: int,
    *,
    after: datetime | None = None,
) -> DueBatch:
    """Due rows, fair across projects: projects ordered by their earliest due instant take one
    row per round (at most `per_project` each), up to `limit` in all. One indexed query.
    With `after`, only rows due after that instant: a tick still running holds the others."""
    s = TriggerSchedule
    project = (s.tenant_id, s.project_id)
    due = (
        select(
            s.tenant_id,
            s.project_id,
            s.trigger_id,
            s.agent_id,
            s.definition_version,
            s.cron_expression,
            s.cron_timezone,
            s.run_at,
            s.misfire_grace_seconds,
            s.catchup,
            s.next_run_at,
            s.run_count,
            s.jitter_seconds,
            s.end_at,
            s.max_runs,
            s.skipped,
            func.row_number()
            .over(partition_by=project, order_by=(s.next_run_at, s.trigger_id))
            .label("depth"),
            func.min(s.next_run_at).over(partition_by=project).label("project_earliest"),
            func.count().over().label("total_due"),
        )
        .where(*_due_at(as_of, after))
        .subquery()
    )
    rows = session.execute(
        select(due)
        .where(due.c.depth <= per_project)
        .order_by(
            due.c.depth,
            due.c.project_earliest,
            due.c.tenant_id,
            due.c.project_id,
        )
        .limit(limit)
    ).all()
    total = int(rows[0].total_due) if rows else _count_due(session, as_of, after)
    return DueBatch([_due(row) for row in rows], total)


def _due_at(as_of: datetime, after: datetime | None) -> list[SQLColumnExpression[bool]]:
    s = TriggerSchedule
    due = [s.enabled, s.next_run_at.is_not(None), s.next_run_at <= as_of]
    if after is not None:
        due.append(s.next_run_at > after)
    return due


def _count_due(session: Session, as_of: datetime, after: datetime | None) -> int:
    return int(session.execute(select(func.count()).where(*_due_at(as_of, after))).scalar_one())


def _due(row: object) -> DueSchedule:
    return DueSchedule(**{name: getattr(row, name) for name in DueSchedule.__dataclass_fields__})


@dataclass(frozen=True)
class Advance:
    """One trigger's compare-and-set: what dispatch read (`due`) and what it writes."""

    due: DueSchedule
    next_run_at: datetime | None
    last_scheduled_for: datetime | None
    runs: int
    invalid_reason: str | None = None
    completed_reason: str | None = None


def advance_all(
    session: Session, advances: list[Advance], now: datetime
) -> set[tuple[str, str, str]]:
    """Compare-and-set many triggers on what dispatch read, in one statement; a sync of a user
    edit in between wins. One statement because under a burst a statement per trigger waited
    its turn for the worker's GIL after every round trip (BENCHMARKS.md). Returns the
    (tenant, project, trigger) keys that won; a key missing lost to a sync in between. A None
    `last_scheduled_for`, `invalid_reason` or `completed_reason` leaves the column as it is."""
    if not advances:
        return set()
    s = TriggerSchedule
    stamp = DateTime(timezone=True)
    rows = values(
        column("tenant_id", String),
        column("project_id", String),
        column("trigger_id", String),
        column("expected_at", stamp),
        column("expected_version", Integer),
        column("next_run_at", stamp),
        column("last_scheduled_for", stamp),
        column("runs", Integer),
        column("invalid_reason", Text),
        column("completed_reason", Text),
        name="advances",
    ).data(
        [
            (
                a.due.tenant_id,
                a.due.project_id,
                a.due.trigger_id,
                a.due.next_run_at,
                a.due.definition_version,
                a.next_run_at,
                a.last_scheduled_for,
                a.runs,
                a.invalid_reason,
                a.completed_reason,
            )
            for a in advances
        ]
    )
    v = rows.c
    won = session.execute(
        update(s)
        .where(
            s.tenant_id == v.tenant_id,
            s.project_id == v.project_id,
            s.trigger_id == v.trigger_id,
            s.next_run_at == cast(v.expected_at, stamp),
            s.definition_version == cast(v.expected_version, Integer),
            s.enabled,
        )
        .values(
            next_run_at=cast(v.next_run_at, stamp),
            run_count=s.run_count + cast(v.runs, Integer),
            updated_at=now,
            last_scheduled_for=func.coalesce(
                cast(v.last_scheduled_for, stamp), s.last_scheduled_for
            ),
            invalid_reason=func.coalesce(cast(v.invalid_reason, Text), s.invalid_reason),
            completed_reason=func.coalesce(cast(v.completed_reason, Text), s.completed_reason),
        )
        .returning(s.tenant_id, s.project_id, s.trigger_id)
        .execution_options(synchronize_session=False)
    )
    return {(row[0], row[1], row[2]) for row in won}


def earliest_next_run(
    session: Session, *, after: datetime | None = None, before: datetime | None = None
) -> datetime | None:
    """The earliest instant scheduled, or the earliest strictly between `after` and `before`."""
    value: datetime | None = session.execute(_earliest(after, before)).scalar_one_or_none()
    return value


def earliest_next_runs(
    session: Session, after: datetime
) -> tuple[datetime | None, datetime | None]:
    """The earliest instant scheduled, and the earliest after `after`, in one round trip: two
    scalar subqueries, each a MIN the index answers (one MIN with a FILTER would scan them all)."""
    row = session.execute(
        select(_earliest().scalar_subquery(), _earliest(after=after).scalar_subquery())
    ).one()
    return row[0], row[1]


def _earliest(
    after: datetime | None = None, before: datetime | None = None
) -> Select[datetime | None]:
    s = TriggerSchedule
    query = select(func.min(s.next_run_at)).where(s.enabled, s.next_run_at.is_not(None))
    if after is not None:
        query = query.where(s.next_run_at > after)
    if before is not None:
        query = query.where(s.next_run_at < before)
    return query


def fill_next_run(
    session: Session,
    tenant_id: str,
    project_id: str,
    trigger_id: str,
    *,
    expected_version: int,
    next_run_at: datetime,
    now: datetime,
) -> bool:
    """Set a missing `next_run_at` if the row is still enabled, unset and at that version."""
    s = TriggerSchedule
    result = session.execute(
        update(s)
        .where(
            s.tenant_id == tenant_id,
            s.project_id == project_id,
            s.trigger_id == trigger_id,
            s.definition_version == expected_version,
            s.enabled,
            s.next_run_at.is_(None),
        )
        .values(next_run_at=next_run_at, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1
