"""Scheduled triggers of an agent: create, read, PATCH, delete, enable and disable.

Each change is one Dolt commit authored by the caller, guarded twice against lost updates: the
`If-Match` precondition the client sends, and a compare-and-set on `version` in the store.
Rescheduling, disabling or deleting a trigger then cancels its pending invocations.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from manage_api.agents import AGENT, agent_missing
from manage_api.branch_access import cancel_runs, project_read, project_write
from manage_api.context import ApiContext
from manage_api.inputs import (
    PathScope,
    check_if_match,
    etag,
    idempotency_key,
    json_object,
    parse_body,
    path_scope,
    refused_fields,
)
from manage_api.models import SERVER_MANAGED, TriggerCreate, TriggerPatch
from manage_api.problems import Problem
from manage_api.trigger_rows import (
    FieldErrors,
    cancels_pending,
    changed_row,
    create_values,
    new_row,
    patched_values,
    trigger_body,
)
from manage_db.agents import get_agent
from manage_db.triggers import (
    USER_FIELDS,
    TriggerRow,
    delete_trigger,
    find_by_request_key,
    get_trigger,
    insert_trigger,
    list_triggers,
    replace_trigger,
    user_values,
)

AGENT_TRIGGERS = AGENT + "/triggers"
TRIGGER = AGENT_TRIGGERS + "/{trigger_id}"

Values = dict[str, Any]


def trigger_location(scope: PathScope, row: TriggerRow) -> str:
    return (
        f"/v1/tenants/{scope.tenant_id}/projects/{scope.project_id}"
        f"/agents/{row.agent_id}/triggers/{row.id}"
    )


def trigger_response(row: TriggerRow, status: int = 200, location: str | None = None) -> Response:
    headers = {"ETag": etag(row.version)}
    if location is not None:
        headers["Location"] = location
    return JSONResponse(trigger_body(row), status_code=status, headers=headers)


def current_trigger(conn: sqlite3.Connection, scope: PathScope) -> TriggerRow:
    """The trigger named by the path, which must belong to the path's agent; else 404."""
    row = get_trigger(conn, scope.trigger_id)
    if row is None or row.agent_id != scope.agent_id:
        raise Problem(404, f"Trigger {scope.trigger_id} not found.")
    return row


def _same_request(existing: TriggerRow, values: Values) -> bool:
    """Whether a repeated create asks for what `existing` was created with.

    A one-time trigger that has fired was disabled by the dispatcher, not by a user (its
    version is unchanged): the repeat still names it, so `enabled` is not compared then.
    """
    stored = user_values(existing)
    fired_once = (
        existing.run_at is not None
        and existing.last_scheduled_for == existing.run_at
        and not existing.enabled
        and existing.version == 1
    )
    if fired_once:
        stored = {**stored, "enabled": values.get("enabled", stored["enabled"])}
    return stored == values


def _create(
    ctx: ApiContext, scope: PathScope, body: TriggerCreate, request_key: str | None
) -> tuple[TriggerRow, bool]:
    """Idempotent by client id or Idempotency-Key: identical repeats answer the existing row."""
    now = ctx.now()
    values = create_values(body)
    trigger_id = body.id or f"t-{uuid.uuid4().hex[:12]}"
    with project_write(ctx, scope, f"create trigger {trigger_id}") as unit:
        if get_agent(unit.conn, scope.agent_id) is None:
            raise agent_missing(scope.agent_id)
        if body.id is not None:
            existing = get_trigger(unit.conn, body.id)
        elif request_key is not None:
            existing = find_by_request_key(unit.conn, request_key)
        else:
            existing = None
        if existing is not None:
            if existing.agent_id == scope.agent_id and _same_request(existing, values):
                return existing, False
            if body.id is not None:
                raise Problem(409, f"Trigger {existing.id} already exists with other fields.")
            raise Problem(
                409, f"This Idempotency-Key created trigger {existing.id} with other fields."
            )
        try:
            row = new_row(
                values,
                trigger_id=trigger_id,
                agent_id=scope.agent_id,
                request_key=request_key,
                now=now,
            )
        except FieldErrors as exc:
            raise exc.problem() from None
        insert_trigger(unit.conn, row)
    return row, True


def _list(ctx: ApiContext, scope: PathScope) -> list[TriggerRow]:
    with project_read(ctx, scope) as conn:
        if get_agent(conn, scope.agent_id) is None:
            raise agent_missing(scope.agent_id)
        return list_triggers(conn, scope.agent_id)


def _get(ctx: ApiContext, scope: PathScope) -> TriggerRow:
    with project_read(ctx, scope) as conn:
        return current_trigger(conn, scope)


def _changed_fields(old: TriggerRow, new: TriggerRow) -> list[str]:
    return [name for name in USER_FIELDS if getattr(old, name) != getattr(new, name)]


def change_trigger(
    ctx: ApiContext,
    scope: PathScope,
    if_match: str | None,
    values_of: Callable[[sqlite3.Connection, TriggerRow], Values],
    message_of: Callable[[TriggerRow, TriggerRow], str],
    *,
    require_future_run_at: bool = False,
) -> TriggerRow:
    """Apply one change as one commit; a change that alters nothing commits nothing."""
    with project_write(ctx, scope, f"update trigger {scope.trigger_id}") as unit:
        current = current_trigger(unit.conn, scope)
        check_if_match(if_match, current.version)
        try:
            new = changed_row(
                current,
                values_of(unit.conn, current),
                now=ctx.now(),
                require_future_run_at=require_future_run_at,
            )
        except FieldErrors as exc:
            raise exc.problem() from None
        if new is None:
            return current
        if not replace_trigger(unit.conn, new, current.version):
            raise Problem(412, "The trigger changed meanwhile; nothing was changed.")
        unit.message = message_of(current, new)
    if cancels_pending(current, new):
        cancel_runs(
            ctx,
            scope,
            unit.message,
            agent_id=scope.agent_id,
            trigger_ids=[scope.trigger_id],
        )
    return new


def _patch(
    ctx: ApiContext, scope: PathScope, if_match: str | None, patch: TriggerPatch
) -> TriggerRow:
    def message(old: TriggerRow, new: TriggerRow) -> str:
        return f"update trigger {new.id}: {', '.join(_changed_fields(old, new))}"

    return change_trigger(
        ctx,
        scope,
        if_match,
        lambda conn, current: patched_values(current, patch),
        message,
        require_future_run_at="run_at" in patch.model_fields_set and patch.run_at is not None,
    )


def _set_enabled(
    ctx: ApiContext, scope: PathScope, if_match: str | None, enabled: bool
) -> TriggerRow:
    verb = "enable" if enabled else "disable"
    return change_trigger(
        ctx,
        scope,
        if_match,
        lambda conn, current: {**user_values(current), "enabled": enabled},
        lambda old, new: f"{verb} trigger {new.id}",
    )


def _delete(ctx: ApiContext, scope: PathScope, if_match: str | None) -> None:
    with project_write(ctx, scope, f"delete trigger {scope.trigger_id}") as unit:
        current = current_trigger(unit.conn, scope)
        check_if_match(if_match, current.version)
        delete_trigger(unit.conn, current.id)
    cancel_runs(
        ctx,
        scope,
        f"trigger {scope.trigger_id} deleted",
        agent_id=scope.agent_id,
        trigger_ids=[scope.trigger_id],
    )


def _patch_body(data: dict[str, Any]) -> TriggerPatch:
    if not data:
        raise Problem(400, "An empty PATCH changes nothing; send the fields to change.")
    data, errors = refused_fields(data, SERVER_MANAGED)
    return parse_body(TriggerPatch, data, errors)


def trigger_routes(ctx: ApiContext) -> list[Route]:
    async def create(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        data, errors = refused_fields(await json_object(request), SERVER_MANAGED)
        body = parse_body(TriggerCreate, data, errors)
        key = idempotency_key(request)
        row, created = await run_in_threadpool(_create, ctx, scope, body, key)
        location = trigger_location(scope, row)
        return trigger_response(row, 201 if created else 200, location)

    async def list_(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        rows = await run_in_threadpool(_list, ctx, scope)
        return JSONResponse({"items": [trigger_body(row) for row in rows]})

    async def get(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        return trigger_response(await run_in_threadpool(_get, ctx, scope))

    async def patch(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = _patch_body(await json_object(request))
        if_match = request.headers.get("if-match")
        return trigger_response(await run_in_threadpool(_patch, ctx, scope, if_match, body))

    async def delete(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        await run_in_threadpool(_delete, ctx, scope, request.headers.get("if-match"))
        return Response(status_code=204)

    def enabler(enabled: bool) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            scope = await path_scope(request, ctx)
            if_match = request.headers.get("if-match")
            row = await run_in_threadpool(_set_enabled, ctx, scope, if_match, enabled)
            return trigger_response(row)

        return handler

    return [
        Route(AGENT_TRIGGERS, create, methods=["POST"]),
        Route(AGENT_TRIGGERS, list_, methods=["GET"]),
        Route(TRIGGER, get, methods=["GET"]),
        Route(TRIGGER, patch, methods=["PATCH"]),
        Route(TRIGGER, delete, methods=["DELETE"]),
        Route(TRIGGER + "/enable", enabler(True), methods=["POST"]),
        Route(TRIGGER + "/disable", enabler(False), methods=["POST"]),
    ]
