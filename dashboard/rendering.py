"""Shared by every page: the templates, the signed-in scope, errors as pages, flash messages."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from dashboard.session import SignInRequired, csrf_token, signed_in
from manage_db.ids import InvalidIdentifier, check_id
from runtime_db.api_keys import Principal
from service.context import ServiceContext
from service.errors import DomainError, NotFound
from service.scope import Scope

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_FLASH = "flash"
_IDS = ("tenant_id", "project_id", "agent_id", "trigger_id")

Handler = Callable[[Request], Awaitable[Response]]


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    principal: Principal | None = None,
    status: int = 200,
) -> Response:
    flash = request.session.pop(_FLASH, None)
    values = {"principal": principal, "csrf": csrf_token(request), "flash": flash, **context}
    return TEMPLATES.TemplateResponse(request, template, values, status_code=status)


def flash(request: Request, text: str, kind: str = "info") -> None:
    request.session[_FLASH] = {"text": text, "kind": kind}


def page(fn: Handler) -> Handler:
    """Errors as pages: no session signs in, a missing or foreign thing is a 404, a refused
    CSRF token a 403."""

    @functools.wraps(fn)
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except SignInRequired:
            return RedirectResponse("/ui/login", status_code=303)
        except NotFound as exc:
            return render(request, "error.html", {"status": 404, "detail": exc.message}, None, 404)
        except HTTPException as exc:
            detail = {"status": exc.status_code, "detail": exc.detail}
            return render(request, "error.html", detail, None, exc.status_code)

    return wrapped


def action(fn: Handler) -> Handler:
    """A POST that changes something: a refusal is shown on the page it came from."""

    @page
    @functools.wraps(fn)
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except NotFound:
            raise
        except DomainError as exc:
            details = getattr(exc, "errors", None)
            text = exc.message
            if details:
                text += " " + "; ".join(f"{e.field}: {e.message}" for e in details)
            flash(request, text, "error")
            return RedirectResponse(back_of(request), status_code=303)

    return wrapped


def back_of(request: Request) -> str:
    """The trigger page an action on it came from."""
    path = request.url.path
    for suffix in ("/run", "/pause", "/resume", "/skip-next", "/unskip", "/backfill", "/revert"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    if "/invocations/" in path:
        return path.split("/invocations/")[0]
    return "/ui/"


async def scoped(request: Request, ctx: ServiceContext) -> tuple[Principal, Scope]:
    """The signed-in principal and the ids of the path; another tenant's path is a 404."""
    principal = await signed_in(request, ctx)
    params = request.path_params
    if not principal.can_access(params["tenant_id"]):
        raise NotFound("Not found.")
    for name in _IDS:
        if name in params:
            try:
                check_id(name, params[name])
            except InvalidIdentifier:
                raise NotFound("Not found.") from None
    ids = {k: v for k, v in params.items() if k in _IDS}
    return principal, Scope(principal.name, **ids)
