"""What a request carries, checked at the edge: path ids, JSON bodies, If-Match, Idempotency-Key.

Every check answers a 4xx naming what is wrong: a body that is not JSON is a 400 (never a 500),
an unknown or server-managed field a 422 naming it, a stale If-Match a 412.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from manage_api.auth import require_tenant
from manage_api.context import ApiContext
from manage_api.problems import Problem, field_error, validation_problem
from manage_db.ids import InvalidIdentifier, check_id

MAX_BODY_BYTES = 1024 * 1024
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_PATH_IDS = ("tenant_id", "project_id", "agent_id", "trigger_id")

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class PathScope:
    """The caller and the validated ids of the path."""

    principal: str
    tenant_id: str
    project_id: str = ""
    agent_id: str = ""
    trigger_id: str = ""


async def path_scope(request: Request, ctx: ApiContext) -> PathScope:
    """401 without a key, 404 for another tenant's path, then 422 naming each malformed id."""
    params = request.path_params
    principal = await require_tenant(request, ctx, params["tenant_id"])
    errors = []
    for name in _PATH_IDS:
        if name in params:
            try:
                check_id(name, params[name])
            except InvalidIdentifier as exc:
                errors.append(field_error(name, str(exc)))
    if errors:
        raise Problem(422, "The path has invalid fields.", errors=errors)
    return PathScope(principal.name, **{k: v for k, v in params.items() if k in _PATH_IDS})


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; Python's parser accepts them unless told not to."""
    raise ValueError(f"{name} is not valid JSON")


async def json_object(request: Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > max_bytes:
        raise Problem(413, f"The body exceeds {max_bytes} bytes.")
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise Problem(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Problem(400, "The body must be a JSON object.")
    return data


def refused_fields(
    data: dict[str, Any], names: Iterable[str], prefix: str = ""
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """`data` without the server-managed `names`, and an error naming each one that was sent."""
    refused = [name for name in names if name in data]
    errors = [
        field_error(f"{prefix}{name}", "is server-managed and cannot be set") for name in refused
    ]
    return {k: v for k, v in data.items() if k not in refused}, errors


def parse_body(
    model: type[M], data: dict[str, Any], errors: list[dict[str, str]] | None = None
) -> M:
    """Strict validation from JSON; one 422 names every bad field, and any `errors` given."""
    found = list(errors or [])
    try:
        parsed = model.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        found.extend(validation_problem(exc).errors or [])
        parsed = None
    if found or parsed is None:
        raise Problem(422, "The request has invalid fields.", errors=found)
    return parsed


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(header: str | None, version: int) -> None:
    """RFC 9110 If-Match (the header's value) with strong comparison; `*` matches any version."""
    if header is None:
        return
    tags = [tag.strip() for tag in header.split(",")]
    if "*" in tags or etag(version) in tags:
        return
    raise Problem(
        412,
        f"If-Match does not match the current version ({version}); nothing was changed.",
        headers={"ETag": etag(version)},
    )


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise Problem(
            422,
            "The request has invalid fields.",
            errors=[field_error("Idempotency-Key", "must be 1..200 visible ASCII characters")],
        )
    return key
