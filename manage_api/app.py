"""The manage API's routes, assembled from one module per resource."""

from __future__ import annotations

from starlette.routing import BaseRoute

from manage_api.context import ApiContext
from manage_api.health import health_routes


def api_routes(ctx: ApiContext) -> list[BaseRoute]:
    return [*health_routes(ctx)]
