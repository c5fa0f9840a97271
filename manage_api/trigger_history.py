"""A trigger's versions from Dolt history, and revert: restoring an old version's user fields.

History lists only commits that changed a user-defined field (the dispatcher's `next_run_at`
advances are not versions). A revert is a new commit, version +1, with `next_run_at` computed
as any schedule change computes it; the commit it reverts to must be in the trigger's history.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from manage_api.branch_access import project_read
from manage_api.context import ApiContext
from manage_api.inputs import PathScope, json_object, parse_body, path_scope
from manage_api.models import RevertRequest
from manage_api.problems import Problem, field_error
from manage_api.trigger_rows import trigger_body
from manage_api.triggers import (
    TRIGGER,
    change_trigger,
    current_trigger,
    trigger_response,
)
from manage_db.branches import project_branch
from manage_db.history import trigger_versions
from manage_db.triggers import TriggerRow, trigger_at_commit, user_values


def _history(ctx: ApiContext, scope: PathScope) -> dict[str, Any]:
    branch = project_branch(scope.tenant_id, scope.project_id)
    with project_read(ctx, scope) as conn:
        current_trigger(conn, scope)
        versions = trigger_versions(conn, branch, scope.trigger_id)
    items = [
        {
            "commit": version.commit,
            "author": version.author,
            "time": version.time,
            "message": version.message,
            "trigger": trigger_body(version.trigger),
        }
        for version in versions
    ]
    return {"trigger_id": scope.trigger_id, "items": items}


def _revert(
    ctx: ApiContext, scope: PathScope, if_match: str | None, body: RevertRequest
) -> TriggerRow:
    branch = project_branch(scope.tenant_id, scope.project_id)

    def restored(conn: sqlite3.Connection, current: TriggerRow) -> dict[str, Any]:
        old = trigger_at_commit(conn, branch, scope.trigger_id, body.commit)
        if old is None or old.agent_id != current.agent_id:
            raise Problem(
                422,
                "The request has invalid fields.",
                errors=[field_error("commit", f"is not a version of trigger {scope.trigger_id}")],
            )
        return user_values(old)

    return change_trigger(
        ctx,
        scope,
        if_match,
        restored,
        lambda old, new: f"revert trigger {new.id} to {body.commit}",
    )


def history_routes(ctx: ApiContext) -> list[Route]:
    async def history(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        return JSONResponse(await run_in_threadpool(_history, ctx, scope))

    async def revert(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = parse_body(RevertRequest, await json_object(request))
        if_match = request.headers.get("if-match")
        return trigger_response(await run_in_threadpool(_revert, ctx, scope, if_match, body))

    return [
        Route(TRIGGER + "/history", history, methods=["GET"]),
        Route(TRIGGER + "/revert", revert, methods=["POST"]),
    ]
