"""The manage API's routes, assembled from one module per resource."""

from __future__ import annotations

from starlette.routing import BaseRoute

from manage_api.agents import agent_routes
from manage_api.alerts import alert_routes
from manage_api.bulk import bulk_routes
from manage_api.controls import control_routes
from manage_api.health import health_routes
from manage_api.metrics import metrics_routes
from manage_api.openapi import openapi_routes
from manage_api.projects import project_routes
from manage_api.runs import runs_routes
from manage_api.scheduler import scheduler_routes
from manage_api.triggers import trigger_routes
from service.context import ServiceContext


def api_routes(ctx: ServiceContext) -> list[BaseRoute]:
    return [
        *health_routes(ctx),
        *metrics_routes(ctx),
        *scheduler_routes(ctx),
        *openapi_routes(),
        *project_routes(ctx),
        *agent_routes(ctx),
        *trigger_routes(ctx),
        *bulk_routes(ctx),
        *control_routes(ctx),
        *runs_routes(ctx),
        *alert_routes(ctx),
    ]
