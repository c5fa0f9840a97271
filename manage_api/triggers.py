"""Scheduled triggers of an agent over HTTP: create, read, list, PATCH, delete, enable, disable,
history, revert and upcoming. The rules are the service layer's; this is parsing and answers."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from manage_api.agents import AGENT
from manage_api.inputs import (
    idempotency_key,
    if_match,
    json_object,
    parse_body,
    parse_query,
    path_scope,
    refused_fields,
)
from manage_api.models import (
    SERVER_MANAGED,
    HistoryEntry,
    Trigger,
    TriggerHistory,
    TriggerPage,
    Upcoming,
    UpcomingInstant,
)
from manage_api.problems import Problem
from manage_api.routing import Operation, RouteList
from manage_api.trigger_bodies import trigger_body, trigger_location, trigger_response
from manage_db.next_run import local_time
from manage_db.occurrences import Occurrence
from manage_db.timestamps import to_db
from manage_db.triggers import TriggerRow
from service import trigger_history, triggers
from service.context import ServiceContext
from service.inputs import (
    DisableBody,
    PageQuery,
    RevertRequest,
    TriggerCreate,
    TriggerPatch,
    UpcomingQuery,
)
from service.wake import wake_scheduler

AGENT_TRIGGERS = AGENT + "/triggers"
TRIGGER = AGENT_TRIGGERS + "/{trigger_id}"
_VERSIONED = ("If-Match",)


def trigger_routes(ctx: ServiceContext) -> RouteList:
    routes = RouteList("triggers")

    async def _wake_for(row: TriggerRow) -> None:
        """A one-time trigger may be due before the scheduler's next minute: tell it."""
        if row.enabled and row.run_at is not None:
            await wake_scheduler(ctx)

    @routes.post(
        AGENT_TRIGGERS,
        Operation(
            "createTrigger",
            "Create a trigger (201); an identical repeat by id or Idempotency-Key answers 200",
            Trigger,
            status=201,
            body=TriggerCreate,
            errors=(409,),
            headers=("Idempotency-Key",),
        ),
    )
    async def create(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        data, errors = refused_fields(await json_object(request), SERVER_MANAGED)
        body = parse_body(TriggerCreate, data, errors)
        key = idempotency_key(request)
        row, created = await run_in_threadpool(triggers.create_trigger, ctx, scope, body, key)
        await _wake_for(row)
        return trigger_response(row, 201 if created else 200, trigger_location(scope, row))

    @routes.get(
        AGENT_TRIGGERS,
        Operation("listTriggers", "List an agent's triggers by id", TriggerPage, query=PageQuery),
    )
    async def list_(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        query = parse_query(PageQuery, request)
        page = await run_in_threadpool(triggers.list_agent_triggers, ctx, scope, query)
        body = TriggerPage(
            items=[trigger_body(r) for r in page.items], next_cursor=page.next_cursor
        )
        return JSONResponse(body.model_dump(mode="json"))

    @routes.get(TRIGGER, Operation("getTrigger", "Get a trigger (ETag: its version)", Trigger))
    async def get(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        return trigger_response(await run_in_threadpool(triggers.get_trigger_of, ctx, scope))

    @routes.patch(
        TRIGGER,
        Operation(
            "patchTrigger",
            "Change the fields sent; an empty PATCH is a 400",
            Trigger,
            body=TriggerPatch,
            errors=(412,),
            headers=_VERSIONED,
        ),
    )
    async def patch(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        data = await json_object(request)
        if not data:
            raise Problem(400, "An empty PATCH changes nothing; send the fields to change.")
        data, errors = refused_fields(data, SERVER_MANAGED)
        body = parse_body(TriggerPatch, data, errors)
        row = await run_in_threadpool(triggers.patch_trigger, ctx, scope, if_match(request), body)
        await _wake_for(row)
        return trigger_response(row)

    @routes.delete(
        TRIGGER,
        Operation(
            "deleteTrigger",
            "Delete a trigger; cancels its pending runs",
            status=204,
            errors=(412,),
            headers=_VERSIONED,
        ),
    )
    async def delete(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        await run_in_threadpool(triggers.delete_trigger, ctx, scope, if_match(request))
        return Response(status_code=204)

    @routes.post(
        TRIGGER + "/enable",
        Operation(
            "enableTrigger",
            "Enable; next_run_at recomputed from now",
            Trigger,
            errors=(412,),
            headers=_VERSIONED,
        ),
    )
    async def enable(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        row = await run_in_threadpool(triggers.set_enabled, ctx, scope, if_match(request), True)
        await _wake_for(row)
        return trigger_response(row)

    @routes.post(
        TRIGGER + "/disable",
        Operation(
            "disableTrigger",
            "Pause, with an optional note; cancels pending runs",
            Trigger,
            body=DisableBody,
            errors=(412,),
            headers=_VERSIONED,
        ),
    )
    async def disable(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        note = parse_body(DisableBody, await json_object(request, optional=True)).note
        row = await run_in_threadpool(
            triggers.set_enabled, ctx, scope, if_match(request), False, note
        )
        return trigger_response(row)

    @routes.get(
        TRIGGER + "/history",
        Operation(
            "getTriggerHistory",
            "Versions that changed user fields, newest first",
            TriggerHistory,
            query=PageQuery,
        ),
    )
    async def history(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        query = parse_query(PageQuery, request)
        page = await run_in_threadpool(trigger_history.trigger_history, ctx, scope, query)
        body = TriggerHistory(
            trigger_id=scope.trigger_id,
            items=[
                HistoryEntry(
                    commit=v.commit,
                    author=v.author,
                    time=v.time,
                    message=v.message,
                    trigger=trigger_body(v.trigger),
                )
                for v in page.items
            ],
            next_cursor=page.next_cursor,
        )
        return JSONResponse(body.model_dump(mode="json"))

    @routes.post(
        TRIGGER + "/revert",
        Operation(
            "revertTrigger",
            "Restore a version's user fields as a new commit",
            Trigger,
            body=RevertRequest,
            errors=(412,),
            headers=_VERSIONED,
        ),
    )
    async def revert(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = parse_body(RevertRequest, await json_object(request))
        row = await run_in_threadpool(
            trigger_history.revert_trigger, ctx, scope, if_match(request), body.commit
        )
        await _wake_for(row)
        return trigger_response(row)

    @routes.get(
        TRIGGER + "/upcoming",
        Operation(
            "getUpcoming",
            "Next fire instants (also for disabled triggers)",
            Upcoming,
            query=UpcomingQuery,
        ),
    )
    async def upcoming(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        query = parse_query(UpcomingQuery, request)
        found = await run_in_threadpool(trigger_history.upcoming_instants, ctx, scope, query)
        body = Upcoming(
            trigger_id=found.trigger_id,
            timezone=found.timezone,
            instants=upcoming_bodies(found.occurrences, found.timezone),
        )
        return JSONResponse(body.model_dump(mode="json"))

    return routes


def upcoming_bodies(found: list[Occurrence], timezone: str) -> list[UpcomingInstant]:
    return [
        UpcomingInstant(
            utc=to_db(o.instant),
            local=local_time(o.instant, timezone).isoformat(),
            skipped=o.skipped,
            fire_at=to_db(o.fire_at),
        )
        for o in found
    ]
