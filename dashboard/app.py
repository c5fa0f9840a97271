"""The dashboard mounted at `/ui`: its pages, the signed session cookie, its own static files."""

from __future__ import annotations

import secrets
from pathlib import Path

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from audit.run import AuditContext
from dashboard.actions import action_routes
from dashboard.editor import editor_routes
from dashboard.pages import page_routes
from service.context import ServiceContext

SESSION_COOKIE = "timekeeper_session"


def dashboard_mount(
    ctx: ServiceContext, audit: AuditContext | None = None, secret: str | None = None
) -> Mount:
    """`secret` signs the session cookie; without one, a random one per process (sessions end
    when the process does)."""
    static = StaticFiles(directory=str(Path(__file__).parent / "static"))
    return Mount(
        "/ui",
        routes=[
            Mount("/static", static, name="ui-static"),
            *editor_routes(ctx),
            *action_routes(ctx),
            *page_routes(ctx, audit),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret or secrets.token_urlsafe(32),
                session_cookie=SESSION_COOKIE,
                same_site="strict",
                https_only=False,
                max_age=12 * 3600,
            )
        ],
    )
