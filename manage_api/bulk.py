"""All of a project's triggers at once: `GET` lists them, `PUT` upserts a list in one commit.

One 422 names `triggers.3.cron_expression` and every other bad field of the request.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from manage_api.inputs import json_object, parse_body, parse_query, path_scope, refused_fields
from manage_api.models import SERVER_MANAGED, BulkResult, TriggerPage
from manage_api.problems import invalid_problem
from manage_api.projects import PROJECT
from manage_api.routing import Operation, RouteList
from manage_api.trigger_bodies import trigger_body
from service import bulk, triggers
from service.context import ServiceContext
from service.errors import FieldError
from service.inputs import BulkTriggers, PageQuery
from service.wake import wake_scheduler

PROJECT_TRIGGERS = PROJECT + "/triggers"
MAX_BULK_BYTES = 16 * 1024 * 1024
_REFUSED = tuple(name for name in SERVER_MANAGED if name != "agent_id")


def _parse(data: dict[str, Any]) -> BulkTriggers:
    errors: list[FieldError] = []
    items = data.get("triggers")
    if isinstance(items, list):
        cleaned = []
        for index, item in enumerate(items):
            if isinstance(item, dict):
                item, refused = refused_fields(item, _REFUSED, prefix=f"triggers.{index}.")
                errors.extend(refused)
            cleaned.append(item)
        data = {**data, "triggers": cleaned}
    body = parse_body(BulkTriggers, data, errors)
    repeated = bulk.repeated_ids(body)
    if errors or repeated:
        raise invalid_problem(errors + repeated)
    return body


def bulk_routes(ctx: ServiceContext) -> RouteList:
    routes = RouteList("triggers")

    @routes.put(
        PROJECT_TRIGGERS,
        Operation(
            "upsertTriggers", "Bulk upsert triggers in one commit", BulkResult, body=BulkTriggers
        ),
    )
    async def put(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = _parse(await json_object(request, MAX_BULK_BYTES))
        outcome = await run_in_threadpool(bulk.upsert_triggers, ctx, scope, body)
        if any(row.enabled and row.run_at is not None for row in outcome.items):
            await wake_scheduler(ctx)
        result = BulkResult(
            created=outcome.created,
            updated=outcome.updated,
            unchanged=outcome.unchanged,
            items=[trigger_body(row) for row in outcome.items],
        )
        return JSONResponse(result.model_dump(mode="json"))

    @routes.get(
        PROJECT_TRIGGERS,
        Operation(
            "listProjectTriggers",
            "List all of the project's triggers by id",
            TriggerPage,
            query=PageQuery,
        ),
    )
    async def list_(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        query = parse_query(PageQuery, request)
        page = await run_in_threadpool(triggers.list_project_triggers, ctx, scope, query)
        body = TriggerPage(
            items=[trigger_body(r) for r in page.items], next_cursor=page.next_cursor
        )
        return JSONResponse(body.model_dump(mode="json"))

    return routes
