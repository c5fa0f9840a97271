"""The HTTP app: the manage API, the deploy hook and audit endpoints, and the dashboard (`/ui`),
built from contexts."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import BaseRoute

from audit.routes import audit_routes
from audit.run import AuditContext
from dashboard.app import dashboard_mount
from deploy_hooks.routes import DeployContext, deploy_routes
from manage_api.app import api_routes
from manage_api.auth import require_admin
from manage_api.outages import OUTAGE_ERRORS, OutageLog, OutageRecovery, handle_outage
from manage_api.problems import EXCEPTION_HANDLERS
from service.context import ServiceContext


def create_app(
    ctx: ServiceContext,
    deploy: DeployContext | None = None,
    audit: AuditContext | None = None,
    ui_secret: str | None = None,
) -> Starlette:
    routes: list[BaseRoute] = [*api_routes(ctx), dashboard_mount(ctx, audit, ui_secret)]
    if deploy is not None:
        routes.extend(deploy_routes(deploy))
    if audit is not None:

        async def admin_only(request: Request) -> object:
            return await require_admin(request, ctx)

        routes.extend(audit_routes(audit, admin_only))
    outages = OutageLog()
    handlers = {**EXCEPTION_HANDLERS, **dict.fromkeys(OUTAGE_ERRORS, handle_outage)}
    app = Starlette(
        routes=routes,
        exception_handlers=handlers,
        middleware=[Middleware(OutageRecovery, outages=outages)],
    )
    app.state.ctx = ctx
    app.state.outages = outages
    return app
