"""Errors as `application/problem+json` (RFC 9457); bodies never carry internal messages."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    422: "Unprocessable Content",
    428: "Precondition Required",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(Exception):
    """Raise anywhere in a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers


def field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def validation_problem(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> Problem:
    """A 422 naming each bad field, from a pydantic error, without echoing the input back."""
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        location = [*prefix, *error["loc"]]
        errors.append(field_error(".".join(str(p) for p in location) or "body", error["msg"]))
    return Problem(422, "The request has invalid fields.", errors=errors)


def problem_response(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc.status, exc.detail, exc.errors, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return problem_response(exc.status_code, _TITLES.get(exc.status_code, "Error"))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "An internal error occurred.")


EXCEPTION_HANDLERS = {
    Problem: handle_problem,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
