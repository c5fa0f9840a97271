"""The HTTP app: the manage API plus the deploy hook and audit endpoints, built from a context."""

from __future__ import annotations

from starlette.applications import Starlette

from manage_api.app import api_routes
from manage_api.context import ApiContext
from manage_api.problems import EXCEPTION_HANDLERS


def create_app(ctx: ApiContext) -> Starlette:
    app = Starlette(routes=api_routes(ctx), exception_handlers=EXCEPTION_HANDLERS)  # type: ignore[arg-type]
    app.state.ctx = ctx
    return app
