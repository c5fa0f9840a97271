"""Runs of a trigger: manual run, invocations with their attempts, cancel and rerun.

Runs never deliver inside the API process: a manual run or a rerun records a pending invocation
and starts a RunnerWorkflow, answering 202 with both ids at once. Cancel marks the row first (so
no further attempt starts whatever happens next) and then signals the workflow to stop waiting.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from manage_api.auth import require_tenant
from manage_api.context import ApiContext
from manage_api.problems import Problem, field_error, validation_problem
from manage_db.branches import project_branch
from manage_db.ids import InvalidIdentifier, check_id
from manage_db.triggers import TriggerRow, read_trigger_at
from runner.launch import LaunchedRun, LaunchFailed, signal_cancel, start_manual_run
from runtime_db.invocations import (
    TERMINAL_STATUSES,
    attempts_of,
    get_invocation,
    list_invocations,
    request_cancel,
)
from runtime_db.models import Invocation, InvocationAttempt

_PROJECT = "/v1/tenants/{tenant_id}/projects/{project_id}"
_TRIGGER = _PROJECT + "/agents/{agent_id}/triggers/{trigger_id}"


class InvocationQuery(BaseModel):
    status: Literal["pending", "running", "completed", "failed", "cancelled", "skipped"] | None = (
        None
    )
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)


@dataclass(frozen=True)
class _Scope:
    """The validated path: a project, optionally narrowed to one agent's trigger."""

    tenant_id: str
    project_id: str
    agent_id: str | None
    trigger_id: str | None
    principal: str

    def holds(self, row: Invocation) -> bool:
        return (
            row.tenant_id == self.tenant_id
            and row.project_id == self.project_id
            and self.agent_id in (None, row.agent_id)
            and self.trigger_id in (None, row.trigger_id)
        )


def runs_routes(ctx: ApiContext) -> list[Route]:
    async def run_trigger(request: Request) -> JSONResponse:
        scope = await _scope(request, ctx)
        assert scope.agent_id is not None and scope.trigger_id is not None
        if (
            await run_in_threadpool(
                _read_trigger,
                ctx,
                scope.tenant_id,
                scope.project_id,
                scope.agent_id,
                scope.trigger_id,
            )
            is None
        ):
            raise Problem(404, "Trigger not found.")
        launched = await _launch(
            ctx, scope.tenant_id, scope.project_id, scope.agent_id, scope.trigger_id, "manual"
        )
        return _accepted(scope, launched)

    async def list_runs(request: Request) -> JSONResponse:
        scope = await _scope(request, ctx)
        try:
            query = InvocationQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            raise validation_problem(exc) from None

        def _list() -> list[dict[str, Any]]:
            with ctx.session_factory() as session:
                rows = list_invocations(
                    session,
                    tenant_id=scope.tenant_id,
                    project_id=scope.project_id,
                    agent_id=scope.agent_id,
                    trigger_id=scope.trigger_id,
                    status=query.status,
                    limit=query.limit,
                    offset=query.offset,
                )
                return [_invocation_json(row) for row in rows]

        items = await run_in_threadpool(_list)
        return JSONResponse({"items": items, "limit": query.limit, "offset": query.offset})

    async def show(request: Request) -> JSONResponse:
        scope = await _scope(request, ctx)
        invocation_id = _invocation_id(request)

        def _read() -> dict[str, Any] | None:
            with ctx.session_factory() as session:
                row = get_invocation(session, invocation_id)
                if row is None or not scope.holds(row):
                    return None
                attempts = [_attempt_json(a) for a in attempts_of(session, invocation_id)]
                return {**_invocation_json(row), "attempts": attempts}

        body = await run_in_threadpool(_read)
        if body is None:
            raise Problem(404, "Invocation not found.")
        return JSONResponse(body)

    async def cancel(request: Request) -> JSONResponse:
        scope = await _scope(request, ctx)
        invocation_id = _invocation_id(request)

        def _cancel() -> tuple[dict[str, Any] | None, bool, str]:
            with ctx.session_factory.begin() as session:
                row = get_invocation(session, invocation_id)
                if row is None or not scope.holds(row):
                    return None, False, ""
                row, changed = request_cancel(
                    session, invocation_id, reason=f"cancelled by {scope.principal}", now=ctx.now()
                )
                assert row is not None
                return _invocation_json(row), changed, row.workflow_id

        body, changed, workflow_id = await run_in_threadpool(_cancel)
        if body is None:
            raise Problem(404, "Invocation not found.")
        if not changed:
            raise Problem(409, f"The invocation has already ended ({body['status']}).")
        if ctx.temporal is not None:
            await signal_cancel(ctx.temporal, workflow_id)
        return JSONResponse(body)

    async def rerun(request: Request) -> JSONResponse:
        scope = await _scope(request, ctx)
        invocation_id = _invocation_id(request)

        def _original() -> Invocation | None:
            with ctx.session_factory() as session:
                row = get_invocation(session, invocation_id)
                return row if row is not None and scope.holds(row) else None

        original = await run_in_threadpool(_original)
        if original is None:
            raise Problem(404, "Invocation not found.")
        if original.status not in TERMINAL_STATUSES:
            raise Problem(409, f"The invocation is still {original.status}; cancel it first.")
        trigger = await run_in_threadpool(
            _read_trigger,
            ctx,
            original.tenant_id,
            original.project_id,
            original.agent_id,
            original.trigger_id,
        )
        if trigger is None:
            raise Problem(409, "The invocation's trigger no longer exists.")
        launched = await _launch(
            ctx,
            original.tenant_id,
            original.project_id,
            original.agent_id,
            original.trigger_id,
            "rerun",
            scheduled_for=original.scheduled_for,
        )
        return _accepted(scope, launched, rerun_of=str(original.id))

    return [
        Route(_TRIGGER + "/run", run_trigger, methods=["POST"]),
        Route(_TRIGGER + "/invocations", list_runs, methods=["GET"]),
        Route(_TRIGGER + "/invocations/{invocation_id}", show, methods=["GET"]),
        Route(_TRIGGER + "/invocations/{invocation_id}/cancel", cancel, methods=["POST"]),
        Route(_TRIGGER + "/invocations/{invocation_id}/rerun", rerun, methods=["POST"]),
        Route(_PROJECT + "/invocations", list_runs, methods=["GET"]),
        Route(_PROJECT + "/invocations/{invocation_id}", show, methods=["GET"]),
        Route(_PROJECT + "/invocations/{invocation_id}/cancel", cancel, methods=["POST"]),
        Route(_PROJECT + "/invocations/{invocation_id}/rerun", rerun, methods=["POST"]),
    ]


async def _scope(request: Request, ctx: ApiContext) -> _Scope:
    params = request.path_params
    principal = await require_tenant(request, ctx, params["tenant_id"])
    try:
        for name in ("tenant_id", "project_id", "agent_id", "trigger_id"):
            if name in params:
                check_id(name, params[name])
    except InvalidIdentifier as exc:
        raise Problem(
            422, "The path has invalid fields.", errors=[field_error(exc.field, str(exc))]
        ) from None
    return _Scope(
        tenant_id=params["tenant_id"],
        project_id=params["project_id"],
        agent_id=params.get("agent_id"),
        trigger_id=params.get("trigger_id"),
        principal=principal.name,
    )


def _invocation_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["invocation_id"])
    except ValueError:
        raise Problem(
            422,
            "The path has invalid fields.",
            errors=[field_error("invocation_id", "must be a UUID")],
        ) from None


def _read_trigger(
    ctx: ApiContext, tenant_id: str, project_id: str, agent_id: str, trigger_id: str
) -> TriggerRow | None:
    """The trigger at its project's branch head, if it exists under that agent."""
    with ctx.store.read() as conn:
        trigger = read_trigger_at(conn, project_branch(tenant_id, project_id), trigger_id)
    return trigger if trigger is not None and trigger.agent_id == agent_id else None


async def _launch(
    ctx: ApiContext,
    tenant_id: str,
    project_id: str,
    agent_id: str,
    trigger_id: str,
    kind: str,
    scheduled_for: datetime | None = None,
) -> LaunchedRun:
    if ctx.temporal is None:
        raise Problem(503, "Runs cannot be started: Temporal is not configured.")
    try:
        return await start_manual_run(
            ctx.temporal,
            ctx.session_factory,
            ctx.task_queue,
            tenant_id=tenant_id,
            project_id=project_id,
            agent_id=agent_id,
            trigger_id=trigger_id,
            kind=kind,
            now=ctx.now(),
            scheduled_for=scheduled_for,
        )
    except LaunchFailed:
        raise Problem(503, "The run could not be started; try again.") from None


def _accepted(scope: _Scope, launched: LaunchedRun, **extra: str) -> JSONResponse:
    location = (
        f"/v1/tenants/{scope.tenant_id}/projects/{scope.project_id}"
        f"/invocations/{launched.invocation_id}"
    )
    body = {
        "invocation_id": str(launched.invocation_id),
        "workflow_id": launched.workflow_id,
        "status": "pending",
        **extra,
    }
    return JSONResponse(body, status_code=202, headers={"Location": location})


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _invocation_json(row: Invocation) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "tenant_id": row.tenant_id,
        "project_id": row.project_id,
        "agent_id": row.agent_id,
        "trigger_id": row.trigger_id,
        "kind": row.kind,
        "scheduled_for": _iso(row.scheduled_for),
        "workflow_id": row.workflow_id,
        "status": row.status,
        "status_reason": row.status_reason,
        "cancel_requested": row.cancel_requested,
        "trigger_version": row.trigger_version,
        "message": row.message,
        "attempt_count": row.attempt_count,
        "max_attempts": row.max_attempts,
        "deadline_at": _iso(row.deadline_at),
        "created_at": _iso(row.created_at),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
    }


def _attempt_json(attempt: InvocationAttempt) -> dict[str, Any]:
    return {
        "attempt_number": attempt.attempt_number,
        "status": attempt.status,
        "http_status": attempt.http_status,
        "started_at": _iso(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "error_class": attempt.error_class,
        "error_message": attempt.error_message,
        "response_excerpt": attempt.response_excerpt,
    }
