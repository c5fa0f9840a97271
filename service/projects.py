"""Projects: each is a branch `{tenant}/{project}/main` holding its own row, agents and triggers.

Creating one branches from `main` (the schema) and commits the project row there. Deleting one
first disables its triggers in one commit (so a dispatcher that still reads the branch stops
starting runs), which cancels its pending invocations, then removes the branch.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from manage_db.branches import project_branch
from manage_db.projects import ProjectRow, get_project, insert_project, list_project_refs
from manage_db.projects import read_project_at as _read_project_at
from manage_db.store import branch_heads, create_branch, delete_branch
from manage_db.timestamps import to_db
from manage_db.triggers import list_triggers, replace_trigger
from runtime_db.alerts import delete_project_hooks
from service.context import ServiceContext
from service.errors import Conflict
from service.inputs import ProjectCreate
from service.project_access import project_missing, project_write, sync_schedules
from service.scope import Scope


def _ensure_branch(conn: sqlite3.Connection, branch: str) -> None:
    """Create the branch unless it exists (a retried or concurrent create may have made it)."""
    if branch in branch_heads(conn):
        return
    try:
        create_branch(conn, branch)
    except sqlite3.OperationalError:
        if branch not in branch_heads(conn):
            raise


def create_project(
    ctx: ServiceContext, scope: Scope, body: ProjectCreate
) -> tuple[ProjectRow, bool]:
    """Idempotent: the same id, name and description again answer the existing project."""
    with ctx.store.read() as conn:
        _ensure_branch(conn, project_branch(scope.tenant_id, body.id))
    project_scope = replace(scope, project_id=body.id)
    with project_write(ctx, project_scope, f"create project {body.id}") as write:
        existing = get_project(write.conn, body.id)
        if existing is not None:
            if (existing.name, existing.description) != (body.name, body.description):
                raise Conflict(f"Project {body.id} exists with different fields.")
            return existing, False
        stamp = to_db(ctx.now())
        row = ProjectRow(body.id, scope.tenant_id, body.name, body.description, stamp, stamp)
        insert_project(write.conn, row)
    return row, True


def list_projects(ctx: ServiceContext, scope: Scope) -> list[ProjectRow]:
    """Branches that hold a project row: a branch left by a failed create is not a project."""
    with ctx.store.read() as conn:
        rows = [_read_project_at(conn, t, p) for t, p in list_project_refs(conn, scope.tenant_id)]
    return [row for row in rows if row is not None]


def get_project_of(ctx: ServiceContext, scope: Scope) -> ProjectRow:
    with ctx.store.read() as conn:
        row = _read_project_at(conn, scope.tenant_id, scope.project_id)
    if row is None:
        raise project_missing(scope.project_id)
    return row


def delete_project(ctx: ServiceContext, scope: Scope) -> None:
    get_project_of(ctx, scope)
    now = to_db(ctx.now())
    with project_write(ctx, scope, f"disable triggers of deleted project {scope.project_id}") as w:
        enabled = [row for row in list_triggers(w.conn) if row.enabled]
        for row in enabled:
            stopped = replace(
                row, enabled=False, next_run_at=None, version=row.version + 1, updated_at=now
            )
            if not replace_trigger(w.conn, stopped, row.version):
                raise Conflict(f"Trigger {row.id} changed meanwhile; try again.")
        w.message = f"disable {len(enabled)} trigger(s) of deleted project {scope.project_id}"
        w.cancel_pending(f"project {scope.project_id} deleted")
    with ctx.store.read() as conn:
        delete_branch(conn, project_branch(scope.tenant_id, scope.project_id))
    sync_schedules(ctx, scope)
    with ctx.session_factory.begin() as session:
        delete_project_hooks(session, scope.tenant_id, scope.project_id)
