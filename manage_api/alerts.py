"""Alert hooks over HTTP: `PUT` creates (201) or replaces (200); deliveries are read-only."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from manage_api.inputs import json_object, parse_body, parse_query, path_scope
from manage_api.models import AlertDelivery, AlertDeliveryList, AlertHook, AlertHookList
from manage_api.projects import PROJECT
from manage_api.routing import Operation, RouteList
from manage_db.timestamps import to_db
from runtime_db import models
from service import alerts
from service.context import ServiceContext
from service.inputs import AlertHookPut, DeliveryQuery

ALERTS = PROJECT + "/alerts"
ALERT = ALERTS + "/{alert_id}"


def hook_body(row: models.AlertHook) -> AlertHook:
    return AlertHook.model_validate(
        {
            "id": row.id,
            "url": row.url,
            "events": row.events,
            "secret_env": row.secret_env,
            "created_at": to_db(row.created_at),
            "updated_at": to_db(row.updated_at),
        }
    )


def delivery_body(row: models.AlertDelivery) -> AlertDelivery:
    return AlertDelivery.model_validate(
        {
            "id": str(row.id),
            "event": row.event,
            "status": row.status,
            "attempts": row.attempts,
            "http_status": row.http_status,
            "last_error": row.last_error,
            "created_at": to_db(row.created_at),
            "finished_at": to_db(row.finished_at) if row.finished_at else None,
            "payload": row.payload,
        }
    )


def alert_routes(ctx: ServiceContext) -> RouteList:
    routes = RouteList("alerts")

    @routes.get(ALERTS, Operation("listAlerts", "List a project's alert hooks", AlertHookList))
    async def list_(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        rows = await run_in_threadpool(alerts.list_alerts, ctx, scope)
        body = AlertHookList(items=[hook_body(r) for r in rows])
        return JSONResponse(body.model_dump(mode="json"))

    @routes.put(
        ALERT,
        Operation(
            "putAlert", "Create (201) or replace (200) an alert hook", AlertHook, body=AlertHookPut
        ),
    )
    async def put(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = parse_body(AlertHookPut, await json_object(request))
        row, created = await run_in_threadpool(alerts.put_alert, ctx, scope, body)
        return JSONResponse(hook_body(row).model_dump(mode="json"), 201 if created else 200)

    @routes.get(ALERT, Operation("getAlert", "Get an alert hook", AlertHook))
    async def get(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        row = await run_in_threadpool(alerts.get_alert, ctx, scope)
        return JSONResponse(hook_body(row).model_dump(mode="json"))

    @routes.delete(ALERT, Operation("deleteAlert", "Delete an alert hook", status=204))
    async def delete(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        await run_in_threadpool(alerts.delete_alert, ctx, scope)
        return Response(status_code=204)

    @routes.get(
        ALERT + "/deliveries",
        Operation(
            "listAlertDeliveries",
            "An alert hook's latest deliveries, newest first",
            AlertDeliveryList,
            query=DeliveryQuery,
        ),
    )
    async def deliveries(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        query = parse_query(DeliveryQuery, request)
        rows = await run_in_threadpool(alerts.alert_deliveries, ctx, scope, query.limit)
        body = AlertDeliveryList(items=[delivery_body(r) for r in rows])
        return JSONResponse(body.model_dump(mode="json"))

    return routes
