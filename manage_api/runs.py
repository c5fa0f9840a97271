"""Runs over HTTP: run now, invocations with their attempts, cancel and rerun, under a trigger
or a whole project. Runs start asynchronously: 202 with the invocation, listed at once."""

from __future__ import annotations

import uuid
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from manage_api import models
from manage_api.inputs import parse_query, path_scope
from manage_api.problems import invalid_problem
from manage_api.projects import PROJECT
from manage_api.routing import Operation, RouteList
from manage_api.triggers import TRIGGER
from manage_db.timestamps import to_db
from runner.launch import LaunchedRun
from runtime_db.models import Invocation, InvocationAttempt
from service import runs
from service.context import ServiceContext
from service.errors import FieldError
from service.inputs import InvocationQuery
from service.scope import Scope


def _utc(moment: datetime | None) -> str | None:
    return to_db(moment) if moment is not None else None


def invocation_body(row: Invocation) -> models.Invocation:
    return models.Invocation(
        id=str(row.id),
        tenant_id=row.tenant_id,
        project_id=row.project_id,
        agent_id=row.agent_id,
        trigger_id=row.trigger_id,
        kind=row.kind,  # type: ignore[arg-type]  # the store holds only these kinds
        scheduled_for=to_db(row.scheduled_for),
        fire_at=_utc(row.fire_at),
        workflow_id=row.workflow_id,
        status=row.status,
        status_reason=row.status_reason,
        cancel_requested=row.cancel_requested,
        trigger_version=row.trigger_version,
        message=row.message,
        attempt_count=row.attempt_count,
        max_attempts=row.max_attempts,
        deadline_at=_utc(row.deadline_at),
        created_at=to_db(row.created_at),
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
    )


def attempt_body(attempt: InvocationAttempt) -> models.Attempt:
    return models.Attempt(
        attempt_number=attempt.attempt_number,
        status=attempt.status,
        http_status=attempt.http_status,
        started_at=to_db(attempt.started_at),
        duration_ms=attempt.duration_ms,
        error_class=attempt.error_class,
        error_message=attempt.error_message,
        response_excerpt=attempt.response_excerpt,
    )


def _invocation_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["invocation_id"])
    except ValueError:
        raise invalid_problem(
            [FieldError("invocation_id", "must be a UUID")], "The path has invalid fields."
        ) from None


def _accepted(scope: Scope, launched: LaunchedRun, rerun_of: str | None = None) -> Response:
    location = (
        f"/v1/tenants/{scope.tenant_id}/projects/{scope.project_id}"
        f"/invocations/{launched.invocation_id}"
    )
    body = models.RunStarted(
        invocation_id=str(launched.invocation_id),
        workflow_id=launched.workflow_id,
        status="pending",
        rerun_of=rerun_of,
    )
    return JSONResponse(body.model_dump(exclude_none=True), 202, {"Location": location})


def runs_routes(ctx: ServiceContext) -> RouteList:
    routes = RouteList("runs")

    @routes.post(
        TRIGGER + "/run",
        Operation(
            "runTrigger",
            "Run now (manual): 202 with the pending invocation",
            models.RunStarted,
            status=202,
            errors=(503,),
        ),
    )
    async def run_trigger(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        return _accepted(scope, await runs.run_now(ctx, scope))

    async def list_runs(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        query = parse_query(InvocationQuery, request)
        page = await run_in_threadpool(runs.list_invocations_of, ctx, scope, query)
        body = models.InvocationPage(
            items=[invocation_body(row) for row in page.items], next_cursor=page.next_cursor
        )
        return JSONResponse(body.model_dump(mode="json"))

    async def show(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        found = await run_in_threadpool(runs.get_invocation_of, ctx, scope, _invocation_id(request))
        body = models.InvocationDetail(
            **invocation_body(found.invocation).model_dump(),
            attempts=[attempt_body(attempt) for attempt in found.attempts],
        )
        return JSONResponse(body.model_dump(mode="json"))

    async def cancel(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        row = await runs.cancel_invocation(ctx, scope, _invocation_id(request))
        return JSONResponse(invocation_body(row).model_dump(mode="json"))

    async def rerun(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        invocation_id = _invocation_id(request)
        launched = await runs.rerun_invocation(ctx, scope, invocation_id)
        return _accepted(scope, launched, rerun_of=str(invocation_id))

    for base, where, of in (
        (TRIGGER, "Trigger", "the trigger's"),
        (PROJECT, "Project", "the project's"),
    ):
        invocations = base + "/invocations"
        routes.get(
            invocations,
            Operation(
                f"list{where}Invocations",
                f"List {of} invocations, newest first",
                models.InvocationPage,
                query=InvocationQuery,
            ),
        )(list_runs)
        routes.get(
            invocations + "/{invocation_id}",
            Operation(
                f"get{where}Invocation", "An invocation with its attempts", models.InvocationDetail
            ),
        )(show)
        routes.post(
            invocations + "/{invocation_id}/cancel",
            Operation(
                f"cancel{where}Invocation",
                "Cancel an open invocation",
                models.Invocation,
                errors=(409,),
            ),
        )(cancel)
        routes.post(
            invocations + "/{invocation_id}/rerun",
            Operation(
                f"rerun{where}Invocation",
                "Run a finished invocation again",
                models.RunStarted,
                status=202,
                errors=(409, 503),
            ),
        )(rerun)
    return routes
