"""Re-sync of trigger definitions from a project branch into schedule state (PostgreSQL).

Definitions are versioned on the project branches; where each trigger stands in its schedule is
not, and lives in `trigger_schedules`. A branch whose head moved since its last sync is synced
again as a whole, whoever moved it: an API write (right after its commit), a revert, a merge, or
a write whose own sync was lost to a crash (the next tick finds the head moved). The sync takes a
per-branch lock first and reads the head under it, so the last sync to run read the newest head.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from alerts.events import trigger_disabled
from manage_db.branches import ProjectRef, parse_branch
from manage_db.store import ManageStore, branch_head
from manage_db.timestamps import from_db
from manage_db.triggers import TriggerRow, list_triggers_at
from runtime_db.alerts import enqueue
from runtime_db.schedules import (
    Definition,
    SyncCounts,
    apply_definitions,
    forget_project,
    lock_branch,
    record_head,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BranchSynced:
    branch: str
    head: str | None  # None: the branch is gone and its rows were dropped
    counts: SyncCounts


def schedule_key(row: TriggerRow) -> str:
    """Fingerprint of what places a trigger's occurrences; `created_at` tells a trigger that was
    deleted and created again under the same id from the old one."""
    fields: list[object] = [
        row.enabled,
        row.cron_expression,
        row.cron_timezone,
        row.run_at,
        row.created_at,
    ]
    if row.start_at or row.end_at or row.max_runs:
        # (keys of triggers without controls stay what they were before controls existed)
        fields += [row.start_at, row.end_at, row.max_runs]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def definition(project: ProjectRef, row: TriggerRow) -> Definition:
    """The schedule-state view of one stored definition; one that cannot be read is kept with
    the reason, and never becomes due."""
    invalid = None
    try:
        run_at = from_db(row.run_at)
        next_run_at = from_db(row.next_run_at)
        last_scheduled_for = from_db(row.last_scheduled_for)
        end_at = from_db(row.end_at)
        skipped = tuple(json.loads(row.skipped)) if row.skipped else ()
    except ValueError as exc:
        run_at = next_run_at = last_scheduled_for = end_at = None
        skipped = ()
        invalid = f"invalid trigger ({exc})"
    return Definition(
        tenant_id=project.tenant_id,
        project_id=project.project_id,
        trigger_id=row.id,
        agent_id=row.agent_id,
        version=row.version,
        schedule_key=schedule_key(row),
        enabled=row.enabled,
        cron_expression=row.cron_expression,
        cron_timezone=row.cron_timezone,
        run_at=run_at,
        misfire_grace_seconds=row.misfire_grace_seconds,
        catchup=row.catchup,
        next_run_at=next_run_at if invalid is None else None,
        last_scheduled_for=last_scheduled_for,
        invalid_reason=invalid,
        jitter_seconds=row.jitter_seconds,
        end_at=end_at,
        max_runs=row.max_runs,
        skipped=skipped,
    )


def sync_branch(store: ManageStore, session: Session, branch: str, now: datetime) -> BranchSynced:
    """Make the project's schedule rows match the branch head; the caller commits `session`.

    Raises `sqlite3.OperationalError` when the head lacks the schema this code reads (a branch
    the manage migration has not reached yet): nothing is recorded, so the next tick retries.
    """
    project = parse_branch(branch)
    if project is None:
        raise ValueError(f"not a project branch: {branch}")
    lock_branch(session, branch)
    with store.read() as conn:
        head = branch_head(conn, branch)
        rows = list_triggers_at(conn, head) if head is not None else []
    if head is None:
        dropped = forget_project(session, branch, project.tenant_id, project.project_id)
        return BranchSynced(branch, None, SyncCounts(deleted=dropped))
    definitions = [definition(project, row) for row in rows]
    counts = apply_definitions(session, project.tenant_id, project.project_id, definitions, now)
    unreadable = [
        trigger_disabled(
            d.tenant_id, d.project_id, d.agent_id, d.trigger_id, d.version, d.invalid_reason, now
        )
        for d in definitions
        if d.invalid_reason is not None
    ]
    enqueue(session, unreadable, now)
    record_head(session, branch, head, now)
    return BranchSynced(branch, head, counts)


def moved_branches(heads: dict[str, str], synced: dict[str, str]) -> tuple[list[str], list[str]]:
    """Project branches to sync (new or moved), and synced ones that no longer exist."""
    moved = sorted(
        name
        for name, head in heads.items()
        if synced.get(name) != head and parse_branch(name) is not None
    )
    gone = sorted(name for name in synced if name not in heads)
    return moved, gone
