"""`GET /openapi.json` (OpenAPI 3.1) built from the app's own routes, and `GET /docs` (Swagger
UI, its assets served by the app itself so the page works offline). Neither needs a key.

Every route is an `ApiRoute` carrying its `Operation`; the document covers exactly the routes
the app serves, with the pydantic models' JSON schemas as components.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # no type info

from manage_api.models import OpenApiDocument, ProblemDetails
from manage_api.problems import PROBLEM_JSON
from manage_api.routing import ApiRoute, Operation, RouteList
from manage_db.ids import ID_PATTERN

_HEADERS = {
    "If-Match": 'The ETag (`"<version>"`) last read; a stale one answers 412, changing nothing.',
    "Idempotency-Key": "Makes a create without an id safe to repeat (1..200 visible ASCII).",
}
# What an error status means on this API; the success statuses say it themselves.
_ERRORS = {
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
_REF = "#/components/schemas/{model}"


def _models(routes: Sequence[ApiRoute]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {ProblemDetails.__name__: ProblemDetails}
    for route in routes:
        for model in (route.operation.response, route.operation.body):
            if model is not None:
                found.setdefault(model.__name__, model)
    return list(found.values())


def _parameters(path: str, op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in re.findall(r"\{(\w+)\}", path):
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


def _operation(route: ApiRoute, refs: Mapping[Any, Any]) -> dict[str, Any]:
    op = route.operation
    ok: dict[str, Any] = {"description": HTTPStatus(op.status).phrase}
    if op.response is not None:
        ok["content"] = {op.media_type: {"schema": refs[(op.response, "serialization")]}}
    elif op.media_type.startswith("text/"):
        ok["content"] = {op.media_type: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(op.status): ok}
    codes = set(op.errors)
    if not op.public:
        codes.add(401)
    if "{" in route.path:
        codes |= {404, 422}
    if op.body is not None:
        codes |= {400, 413, 422}
    if op.query is not None:
        codes.add(422)
    problem = {PROBLEM_JSON: {"schema": refs[(ProblemDetails, "serialization")]}}
    for code in sorted(codes):
        responses[str(code)] = {"description": _ERRORS[code], "content": problem}
    body: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.id,
        "tags": [op.tag],
        "parameters": _parameters(route.path, op),
        "responses": responses,
    }
    if op.body is not None:
        body["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    if op.public:
        body["security"] = []
    return body


def api_routes_of(routes: Sequence[BaseRoute]) -> list[ApiRoute]:
    """Every documented route; a plain Route or a Mount is not an API operation."""
    return [route for route in routes if isinstance(route, ApiRoute)]


def openapi_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    documented = api_routes_of(routes)
    modes: tuple[JsonSchemaMode, ...] = ("validation", "serialization")
    keys = [(model, mode) for model in _models(documented) for mode in modes]
    refs, top = models_json_schema(keys, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in documented:
        paths.setdefault(route.path, {})[route.method] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Timekeeper API",
            "version": "1",
            "description": "Scheduled triggers that fire AI agents. Every write is one commit "
            "in the versioned store, authored by the calling key's principal. Errors are "
            "application/problem+json naming each bad field.",
        },
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


_ASSETS = "/docs/assets"
_DOCS_HTML = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Timekeeper API</title>
<link rel="stylesheet" href="{_ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{_ASSETS}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui"}});</script>
</body>
</html>
"""


def openapi_routes() -> list[BaseRoute]:
    routes = RouteList("ops")

    @routes.get(
        "/openapi.json",
        Operation("getOpenApi", "This document", OpenApiDocument, public=True),
    )
    async def spec(request: Request) -> Response:
        state = request.app.state
        if getattr(state, "openapi", None) is None:
            state.openapi = openapi_document(request.app.routes)
        return JSONResponse(state.openapi)

    @routes.get(
        "/docs",
        Operation(
            "getDocs", "Interactive documentation (HTML)", public=True, media_type="text/html"
        ),
    )
    async def docs(request: Request) -> Response:
        return HTMLResponse(_DOCS_HTML)

    return [*routes, Mount(_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")]
