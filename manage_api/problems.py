"""Errors as `application/problem+json` (RFC 9457) for every HTTP surface, mapped in one place.

Domain errors from the service layer map by type; `Problem` is for what only HTTP knows (a
missing key, a body that is not JSON). Bodies never carry internal messages; an exception's
headers (`Allow` on a 405, `WWW-Authenticate` on a 401) are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from service.errors import (
    Conflict,
    DomainError,
    FieldError,
    InvalidFields,
    NotFound,
    PreconditionFailed,
    Unavailable,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
INVALID_FIELDS = "The request has invalid fields."
# RFC 9110 names that the standard library of Python 3.11 still spells the older way.
_RENAMED = {413: "Content Too Large", 422: "Unprocessable Content"}
_DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    InvalidFields: 422,
    Unavailable: 503,
}


def status_title(status: int) -> str:
    if status in _RENAMED:
        return _RENAMED[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Problem(Exception):
    """Raise anywhere in a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers


def invalid_problem(errors: list[FieldError], detail: str = INVALID_FIELDS) -> Problem:
    return Problem(422, detail, errors=errors)


def validation_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[FieldError]:
    """Each bad field of a pydantic error, named by its dotted path, without echoing the input."""
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        location = [*prefix, *error["loc"]]
        errors.append(FieldError(".".join(str(p) for p in location) or "body", error["msg"]))
    return errors


def problem_response(
    status: int,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": status_title(status),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc.status, exc.detail, exc.errors, exc.headers)


async def _handle_domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    status = next(code for kind, code in _DOMAIN_STATUS.items() if isinstance(exc, kind))
    headers: dict[str, str] = {}
    if isinstance(exc, PreconditionFailed) and exc.current_version is not None:
        headers["ETag"] = etag(exc.current_version)
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = "5"
    errors = exc.errors if isinstance(exc, InvalidFields) else None
    return problem_response(status, exc.message, errors, headers)


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(exc.status_code, status_title(exc.status_code), headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method of every route at this path: Starlette names only the first route's, and
    routes here carry one method each."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def _handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "An internal error occurred.")


def etag(version: int) -> str:
    return f'"{version}"'


Handler = Callable[[Request, Exception], Awaitable[Response]]
EXCEPTION_HANDLERS: dict[Any, Handler] = {
    Problem: _handle_problem,
    **dict.fromkeys(_DOMAIN_STATUS, _handle_domain),
    HTTPException: _handle_http_exception,
    Exception: _handle_unexpected,
}
