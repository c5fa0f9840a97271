"""Projects: each is a branch `{tenant}/{project}/main` holding its own row, agents and triggers.

Creating one branches from `main` (the schema) and commits the project row there. Deleting one
first disables its triggers in one commit (so a dispatcher that still reads the branch stops
starting runs), then cancels its pending invocations, then removes the branch.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from manage_api.branch_access import cancel_runs, project_write
from manage_api.context import ApiContext
from manage_api.inputs import PathScope, json_object, parse_body, path_scope
from manage_api.models import Project, ProjectCreate
from manage_api.problems import Problem
from manage_db.branches import project_branch
from manage_db.projects import (
    ProjectRow,
    get_project,
    insert_project,
    list_project_refs,
    read_project_at,
)
from manage_db.store import branch_heads, create_branch, delete_branch
from manage_db.timestamps import to_db
from manage_db.triggers import list_triggers, replace_trigger

PROJECTS = "/v1/tenants/{tenant_id}/projects"
PROJECT = PROJECTS + "/{project_id}"


def project_body(row: ProjectRow) -> dict[str, Any]:
    return Project(**vars(row)).model_dump(mode="json")


def _not_found(project_id: str) -> Problem:
    return Problem(404, f"Project {project_id} not found.")


def _ensure_branch(conn: sqlite3.Connection, branch: str) -> None:
    """Create the branch unless it exists (a retried or concurrent create may have made it)."""
    if branch in branch_heads(conn):
        return
    try:
        create_branch(conn, branch)
    except sqlite3.OperationalError:
        if branch not in branch_heads(conn):
            raise


def _create(ctx: ApiContext, scope: PathScope, body: ProjectCreate) -> tuple[ProjectRow, bool]:
    """Idempotent: the same id, name and description again answer the existing project."""
    branch = project_branch(scope.tenant_id, body.id)
    with ctx.store.read() as conn:
        _ensure_branch(conn, branch)
    project_scope = replace(scope, project_id=body.id)
    with project_write(ctx, project_scope, f"create project {body.id}") as unit:
        existing = get_project(unit.conn, body.id)
        if existing is not None:
            if (existing.name, existing.description) != (body.name, body.description):
                raise Problem(409, f"Project {body.id} exists with different fields.")
            return existing, False
        stamp = to_db(ctx.now())
        row = ProjectRow(body.id, scope.tenant_id, body.name, body.description, stamp, stamp)
        insert_project(unit.conn, row)
    return row, True


def _list(ctx: ApiContext, tenant_id: str) -> list[dict[str, Any]]:
    """Branches that hold a project row: a branch left by a failed create is not a project."""
    with ctx.store.read() as conn:
        rows = [read_project_at(conn, t, p) for t, p in list_project_refs(conn, tenant_id)]
    return [project_body(row) for row in rows if row is not None]


def _get(ctx: ApiContext, scope: PathScope) -> ProjectRow:
    with ctx.store.read() as conn:
        row = read_project_at(conn, scope.tenant_id, scope.project_id)
    if row is None:
        raise _not_found(scope.project_id)
    return row


def _delete(ctx: ApiContext, scope: PathScope) -> None:
    _get(ctx, scope)
    now = to_db(ctx.now())
    with project_write(
        ctx, scope, f"disable triggers of deleted project {scope.project_id}"
    ) as unit:
        enabled = [row for row in list_triggers(unit.conn) if row.enabled]
        for row in enabled:
            stopped = replace(
                row, enabled=False, next_run_at=None, version=row.version + 1, updated_at=now
            )
            if not replace_trigger(unit.conn, stopped, row.version):
                raise Problem(409, f"Trigger {row.id} changed meanwhile; try again.")
        unit.message = f"disable {len(enabled)} trigger(s) of deleted project {scope.project_id}"
    cancel_runs(ctx, scope, f"project {scope.project_id} deleted")
    with ctx.store.read() as conn:
        delete_branch(conn, project_branch(scope.tenant_id, scope.project_id))


def project_routes(ctx: ApiContext) -> list[Route]:
    async def create(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        body = parse_body(ProjectCreate, await json_object(request))
        row, created = await run_in_threadpool(_create, ctx, scope, body)
        headers = {"Location": f"/v1/tenants/{scope.tenant_id}/projects/{row.id}"}
        return JSONResponse(project_body(row), status_code=201 if created else 200, headers=headers)

    async def list_(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        return JSONResponse({"items": await run_in_threadpool(_list, ctx, scope.tenant_id)})

    async def get(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        return JSONResponse(project_body(await run_in_threadpool(_get, ctx, scope)))

    async def delete(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        await run_in_threadpool(_delete, ctx, scope)
        return Response(status_code=204)

    return [
        Route(PROJECTS, create, methods=["POST"]),
        Route(PROJECTS, list_, methods=["GET"]),
        Route(PROJECT, get, methods=["GET"]),
        Route(PROJECT, delete, methods=["DELETE"]),
    ]
