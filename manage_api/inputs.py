"""What a request carries, checked at the edge: path ids, JSON bodies, queries, If-Match,
Idempotency-Key.

Every check answers a 4xx naming what is wrong: a body that is not JSON is a 400 (never a 500),
a body over the limit a 413 (refused from its Content-Length before it is read, or cut off as it
streams in), an unknown or server-managed field a 422 naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from manage_api.auth import require_tenant
from manage_api.problems import Problem, invalid_problem, validation_errors
from manage_db.ids import InvalidIdentifier, check_id
from service.context import ServiceContext
from service.errors import FieldError
from service.scope import Scope
from service.triggers import Versions

MAX_BODY_BYTES = 1024 * 1024
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_STRONG_ETAG = re.compile(r'^"(\d{1,18})"$')
_PATH_IDS = ("tenant_id", "project_id", "agent_id", "trigger_id", "alert_id")

M = TypeVar("M", bound=BaseModel)


async def path_scope(request: Request, ctx: ServiceContext) -> Scope:
    """401 without a key, 404 for another tenant's path, then 422 naming each malformed id."""
    params = request.path_params
    principal = await require_tenant(request, ctx, params["tenant_id"])
    errors = []
    for name in _PATH_IDS:
        if name in params:
            try:
                check_id(name, params[name])
            except InvalidIdentifier as exc:
                errors.append(FieldError(name, str(exc)))
    if errors:
        raise invalid_problem(errors, "The path has invalid fields.")
    return Scope(principal.name, **{k: v for k, v in params.items() if k in _PATH_IDS})


def _too_large(max_bytes: int) -> Problem:
    return Problem(413, f"The body exceeds {max_bytes} bytes.")


async def read_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused (413) from its declared length before any of it is read, and cut off
    as soon as a streamed body passes the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; Python's parser accepts them unless told not to."""
    raise ValueError(f"{name} is not valid JSON")


async def json_object(
    request: Request, max_bytes: int = MAX_BODY_BYTES, *, optional: bool = False
) -> dict[str, Any]:
    """The body as a JSON object; with `optional`, no body at all reads as `{}`."""
    raw = await read_body(request, max_bytes)
    if optional and not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise Problem(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Problem(400, "The body must be a JSON object.")
    return data


def refused_fields(
    data: dict[str, Any], names: Iterable[str], prefix: str = ""
) -> tuple[dict[str, Any], list[FieldError]]:
    """`data` without the server-managed `names`, and an error naming each one that was sent."""
    refused = [name for name in names if name in data]
    errors = [
        FieldError(f"{prefix}{name}", "is server-managed and cannot be set") for name in refused
    ]
    return {k: v for k, v in data.items() if k not in refused}, errors


def parse_body(model: type[M], data: dict[str, Any], errors: list[FieldError] | None = None) -> M:
    """Strict validation from JSON; one 422 names every bad field, and any `errors` given."""
    found = list(errors or [])
    parsed: M | None
    try:
        parsed = model.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        found.extend(validation_errors(exc))
        parsed = None
    if found or parsed is None:
        raise invalid_problem(found)
    return parsed


def parse_query(model: type[M], request: Request) -> M:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise invalid_problem(validation_errors(exc)) from None


def if_match(request: Request) -> Versions:
    """RFC 9110 If-Match with strong comparison: the versions named, None for absent or `*`."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    tags = [tag.strip() for tag in header.split(",")]
    if "*" in tags:
        return None
    return frozenset(int(m.group(1)) for tag in tags if (m := _STRONG_ETAG.fullmatch(tag)))


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise invalid_problem(
            [FieldError("Idempotency-Key", "must be 1..200 visible ASCII characters")]
        )
    return key
