"""Scheduling controls over HTTP: skip and unskip occurrences, backfill a past range, preview a
schedule before saving it. The rules are the service layer's (`service.controls`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from manage_api.inputs import if_match, json_object, parse_body, path_scope
from manage_api.models import BackfillAnswer, SchedulePreviewAnswer, Trigger
from manage_api.projects import PROJECT
from manage_api.routing import Operation, RouteList
from manage_api.trigger_bodies import trigger_response
from manage_api.triggers import TRIGGER, upcoming_bodies
from manage_db.timestamps import to_db
from service import controls
from service.context import ServiceContext
from service.inputs import BackfillBody, SchedulePreview, SkipBody, UnskipBody

_VERSIONED = ("If-Match",)


def control_routes(ctx: ServiceContext) -> RouteList:
    routes = RouteList("triggers")

    @routes.post(
        TRIGGER + "/skip",
        Operation(
            "skipOccurrences",
            "Mark future occurrences not to fire: `instants`, or the `next` N",
            Trigger,
            body=SkipBody,
            errors=(412,),
            headers=_VERSIONED,
        ),
    )
    async def skip(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = parse_body(SkipBody, await json_object(request))
        return trigger_response(
            await run_in_threadpool(controls.skip, ctx, scope, if_match(request), body)
        )

    @routes.post(
        TRIGGER + "/unskip",
        Operation(
            "unskipOccurrences",
            "Let skipped occurrences fire again",
            Trigger,
            body=UnskipBody,
            errors=(412,),
            headers=_VERSIONED,
        ),
    )
    async def unskip(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = parse_body(UnskipBody, await json_object(request))
        return trigger_response(
            await run_in_threadpool(controls.unskip, ctx, scope, if_match(request), body)
        )

    @routes.post(
        TRIGGER + "/backfill",
        Operation(
            "backfillTrigger",
            "Run every fire instant of a past range [start, end), in order, once per instant",
            BackfillAnswer,
            status=202,
            body=BackfillBody,
            errors=(503,),
        ),
    )
    async def backfill(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = parse_body(BackfillBody, await json_object(request))
        done = await controls.backfill(ctx, scope, body)
        answer = BackfillAnswer(instants=[to_db(t) for t in done.instants], started=done.started)
        return JSONResponse(answer.model_dump(mode="json"), status_code=202)

    @routes.post(
        PROJECT + "/schedule-preview",
        Operation(
            "previewSchedule",
            "A schedule's description and next instants, checked as a save would; nothing is"
            " written",
            SchedulePreviewAnswer,
            body=SchedulePreview,
        ),
    )
    async def preview(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = parse_body(SchedulePreview, await json_object(request))
        found = await run_in_threadpool(controls.preview, ctx, scope, body)
        return JSONResponse(preview_answer(found).model_dump(mode="json"))

    return routes


def preview_answer(found: controls.Preview) -> SchedulePreviewAnswer:
    return SchedulePreviewAnswer(
        schedule_description=found.description,
        timezone=found.timezone,
        instants=upcoming_bodies(found.occurrences, found.timezone),
    )
