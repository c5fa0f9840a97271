"""The audit's reads: one consistent look at the manage store and the runtime database.

The manage store is read the way the dispatcher reads it: one `dolt_branches` listing, then each
project's triggers at the head commit that listing named, through `dolt_at_triggers`, never a
checkout. Checks then work on these snapshots and never query anything themselves.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from manage_db.branches import parse_branch
from manage_db.migrate import branch_schema_versions
from manage_db.schema import Migration, latest_version
from manage_db.store import ManageStore, branch_heads
from manage_db.triggers import TriggerRow, list_triggers_at
from runtime_db.invocations import open_invocations, scheduled_instants
from runtime_db.models import TriggerSchedule
from runtime_db.scheduler_state import current_state, started_generations_before
from runtime_db.schedules import all_schedules, synced_heads

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ProjectTriggers:
    tenant_id: str
    project_id: str
    branch: str
    head: str
    # None when the branch is behind the schema and its triggers could not be read.
    triggers: dict[str, TriggerRow] | None


@dataclass(frozen=True)
class ManageSnapshot:
    versions: dict[str, int]  # every branch, `main` included -> its schema version
    target_version: int
    projects: dict[tuple[str, str], ProjectTriggers]  # (tenant_id, project_id) -> its triggers


@dataclass(frozen=True)
class OpenInvocation:
    id: uuid.UUID
    tenant_id: str
    project_id: str
    agent_id: str
    trigger_id: str
    kind: str
    status: str
    workflow_id: str
    trigger_version: int | None
    created_at: datetime
    started_at: datetime | None
    deadline_at: datetime | None
    max_attempts: int | None


@dataclass(frozen=True)
class SchedulerRun:
    generation: int
    deployment_id: str
    workflow_id: str
    run_id: str | None
    task_queue: str


@dataclass(frozen=True)
class ScheduleSnapshot:
    rows: dict[tuple[str, str, str], TriggerSchedule]  # (tenant, project, trigger) -> its state
    synced_heads: dict[str, str]  # project branch -> the head its rows were synced from
    # (tenant, project, trigger) -> instants since `accounted_since` with a scheduled invocation
    accounted: dict[tuple[str, str, str], set[datetime]]
    accounted_since: datetime


@dataclass(frozen=True)
class RuntimeSnapshot:
    open_invocations: list[OpenInvocation]
    registered: SchedulerRun | None
    superseded: list[SchedulerRun]  # older generations that were started (have a run id)


def read_manage(
    store: ManageStore, migrations: tuple[Migration, ...], progress: Progress | None = None
) -> ManageSnapshot:
    target = latest_version(migrations)
    with store.read() as conn:
        heads = branch_heads(conn)
        names = sorted(heads)
        versions = branch_schema_versions(conn, names)
        refs = [(name, ref) for name in names if (ref := parse_branch(name)) is not None]
        projects: dict[tuple[str, str], ProjectTriggers] = {}
        for done, (name, ref) in enumerate(refs, start=1):
            triggers = _read_triggers(conn, heads[name], behind=versions[name] < target)
            projects[(ref.tenant_id, ref.project_id)] = ProjectTriggers(
                ref.tenant_id, ref.project_id, name, heads[name], triggers
            )
            if progress is not None:
                progress(done, len(refs))
    return ManageSnapshot(versions=versions, target_version=target, projects=projects)


def _read_triggers(
    conn: sqlite3.Connection, head: str, *, behind: bool
) -> dict[str, TriggerRow] | None:
    """A branch behind the schema may lack columns; it is reported as such, not read."""
    try:
        return {row.id: row for row in list_triggers_at(conn, head)}
    except sqlite3.OperationalError:
        if behind:
            return None
        raise


def read_runtime(session: Session) -> RuntimeSnapshot:
    invocations = [
        OpenInvocation(
            id=row.id,
            tenant_id=row.tenant_id,
            project_id=row.project_id,
            agent_id=row.agent_id,
            trigger_id=row.trigger_id,
            kind=row.kind,
            status=row.status,
            workflow_id=row.workflow_id,
            trigger_version=row.trigger_version,
            created_at=row.created_at,
            started_at=row.started_at,
            deadline_at=row.deadline_at,
            max_attempts=row.max_attempts,
        )
        for row in open_invocations(session)
    ]
    state = current_state(session)
    if state is None:
        return RuntimeSnapshot(invocations, None, [])
    registered = SchedulerRun(
        state.generation, state.deployment_id, state.workflow_id, state.run_id, state.task_queue
    )
    superseded = [
        SchedulerRun(g.generation, g.deployment_id, g.workflow_id, g.run_id, g.task_queue)
        for g in started_generations_before(session, state.generation)
    ]
    return RuntimeSnapshot(invocations, registered, superseded)


def read_schedules(session: Session, accounted_since: datetime) -> ScheduleSnapshot:
    """Schedule state, the heads it was synced at, and the instants runs were recorded for; read
    after the manage store (see run)."""
    rows = {(r.tenant_id, r.project_id, r.trigger_id): r for r in all_schedules(session)}
    return ScheduleSnapshot(
        rows=rows,
        synced_heads=synced_heads(session),
        accounted=scheduled_instants(session, accounted_since),
        accounted_since=accounted_since,
    )
