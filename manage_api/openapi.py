"""`GET /openapi.json` (OpenAPI 3.1) and `GET /docs` (Swagger UI), neither behind auth.

The document is built from the pydantic models' JSON schemas and `manage_api.operations`. It
describes the operations the app really serves (the table filtered by the app's routes), and a
test holds every served route to having an entry in the table.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from manage_api import models as m
from manage_api.context import ApiContext
from manage_api.operations import OPERATIONS, Operation
from manage_api.problems import PROBLEM_JSON
from manage_db.ids import ID_PATTERN

_MODELS: tuple[type[BaseModel], ...] = (
    m.ProjectCreate, m.Project, m.ProjectList, m.AgentPut, m.Agent, m.AgentList,
    m.TriggerCreate, m.TriggerPatch, m.Trigger, m.TriggerList, m.BulkTriggers, m.BulkResult,
    m.RevertRequest, m.TriggerHistory, m.Upcoming, m.ProblemDetails,
)  # fmt: skip
_HEADERS = {
    "If-Match": 'The ETag (`"<version>"`) last read; a stale one answers 412, changing nothing.',
    "Idempotency-Key": "Makes a create without an id safe to repeat (1..200 visible ASCII).",
}
_STATUS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Malformed JSON, or an empty PATCH",
    401: "No valid API key",
    403: "Not an admin key",
    404: "Not found (or another tenant's)",
    409: "Conflicts with what exists",
    412: "If-Match does not match the current version",
    413: "Body too large",
    422: "Invalid fields, each named in `errors`",
    500: "Internal error (generic body)",
    503: "A store or Temporal is unavailable",
}


def _schemas() -> tuple[dict[tuple[type[BaseModel], str], Any], dict[str, Any]]:
    keys = [(model, mode) for model in _MODELS for mode in ("validation", "serialization")]
    refs, top = models_json_schema(keys, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    return refs, top.get("$defs", {})


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in re.findall(r"\{(\w+)\}", op.path):
        schema = (
            {"type": "string", "format": "uuid"}
            if name == "invocation_id"
            else {"type": "string", "pattern": ID_PATTERN}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        for name, info in op.query.model_json_schema()["properties"].items():
            params.append({"name": name, "in": "query", "required": False, "schema": info})
    for name in op.headers:
        params.append(
            {"name": name, "in": "header", "required": False,
             "description": _HEADERS[name], "schema": {"type": "string"}}
        )  # fmt: skip
    return params


def _content(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {media: {"schema": schema}}


def _operation(op: Operation, refs: dict[tuple[type[BaseModel], str], Any]) -> dict[str, Any]:
    problem = refs[(m.ProblemDetails, "serialization")]
    ok: dict[str, Any] = {"description": _STATUS[op.ok]}
    if isinstance(op.response, type):
        ok["content"] = _content(refs[(op.response, "serialization")])
    elif op.response is not None:
        media = "text/html" if op.path == "/docs" else "application/json"
        ok["content"] = _content(op.response, media)
    responses: dict[str, Any] = {str(op.ok): ok}
    codes = set(op.errors)
    if not op.public:
        codes.add(401)
    if "{" in op.path:
        codes |= {404, 422}
    if op.body is not None or op.query is not None:
        codes |= {400, 413, 422} if op.body is not None else {422}
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _STATUS[code],
            "content": _content(problem, PROBLEM_JSON),
        }
    body: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{op.method}_{re.sub(r'[^a-z0-9]+', '_', op.path.lower()).strip('_')}",
        "tags": [op.tag],
        "parameters": _parameters(op),
        "responses": responses,
    }
    if op.body is not None:
        body["requestBody"] = {
            "required": True,
            "content": _content(refs[(op.body, "validation")]),
        }
    if op.public:
        body["security"] = []
    return body


def served_operations(routes: list[BaseRoute]) -> frozenset[tuple[str, str]]:
    """(path, method) of every route, as the table spells them."""
    return frozenset(
        (route.path, method.lower())
        for route in routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    )


@lru_cache(maxsize=4)
def openapi_document(served: frozenset[tuple[str, str]]) -> dict[str, Any]:
    refs, schemas = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        if (op.path, op.method) in served:
            paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Timekeeper manage API",
            "version": "1",
            "description": "Scheduled triggers that fire AI agents. Every write is one commit "
            "in the versioned store, authored by the calling key's principal. Errors are "
            "application/problem+json naming each bad field.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


_DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Timekeeper API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body>
</html>
"""


def openapi_routes(ctx: ApiContext) -> list[Route]:
    async def spec(request: Request) -> JSONResponse:
        return JSONResponse(openapi_document(served_operations(request.app.routes)))

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(_DOCS_HTML)

    return [
        Route("/openapi.json", spec, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
