"""`GET /metrics`: Timekeeper's metrics in the Prometheus text format, for scraping."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from manage_api.routing import Operation, RouteList
from manage_db.compaction import store_bytes
from service.context import ServiceContext
from telemetry.metrics import MANAGE_STORE_BYTES, REGISTRY


def metrics_routes(ctx: ServiceContext) -> RouteList:
    routes = RouteList("ops")

    @routes.get(
        "/metrics",
        Operation(
            "getMetrics",
            "Metrics in the Prometheus text format",
            public=True,
            media_type="text/plain",
        ),
    )
    async def metrics(request: Request) -> Response:
        MANAGE_STORE_BYTES.set(store_bytes(ctx.store))
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return routes
