"""`/openapi.json` is a valid OpenAPI 3.1 document generated from the routes the app serves, with
a real schema for every success and the documented bounds; `/docs` renders it from assets the
app serves itself. Neither needs a key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from openapi_spec_validator import validate
from starlette.routing import Mount, Route
from temporalio.client import Client

from audit.run import AuditContext
from deploy_hooks.routes import DeployContext
from manage_api.routing import ApiRoute
from tests.manage_api.conftest import Api
from timekeeper.app import create_app


@pytest_asyncio.fixture
async def full_app(api: Api) -> AsyncIterator[tuple[httpx.AsyncClient, list[Any]]]:
    """The whole HTTP surface: the manage API, the deploy hook and the audit."""
    temporal = await Client.connect("127.0.0.1:1", lazy=True)
    deploy = DeployContext(api.ctx.session_factory, temporal, "secret", 60, lambda d: d)
    audit = AuditContext(api.ctx.store, api.ctx.session_factory, None, 60, "q", "d")
    app = create_app(api.ctx, deploy, audit)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, app.routes


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


async def test_the_document_covers_every_route_and_validates(
    full_app: tuple[httpx.AsyncClient, list[Any]],
) -> None:
    client, routes = full_app
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)

    plain = [r for r in routes if isinstance(r, Route) and not isinstance(r, ApiRoute)]
    assert plain == []  # every route is declared with its operation
    # Mounts are files and pages, not API operations: Swagger UI assets and the dashboard.
    assert [r.path for r in routes if isinstance(r, Mount)] == ["/docs/assets", "/ui"]
    served = {
        (route.path, method.lower())
        for route in routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented == served
    assert ("/v1/deploy/restart-scheduler", "post") in served and ("/v1/audit", "get") in served

    schemas = spec["components"]["schemas"]
    assert {ref.removeprefix("#/components/schemas/") for ref in _refs(spec)} <= set(schemas)
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert max(len(i) for i in ids) <= 30
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, answer in op["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                [(media, content)] = answer["content"].items()
                schema = content["schema"]
                if media in ("text/html", "text/plain"):  # /docs, and /metrics for Prometheus
                    assert schema == {"type": "string"}, (path, method)
                    continue
                assert "$ref" in schema, (path, method, status)
                target = schemas[schema["$ref"].removeprefix("#/components/schemas/")]
                assert target.get("properties"), (path, method, status)


async def test_operation_ids_are_short_and_stable(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    trigger = "/v1/tenants/{tenant_id}/projects/{project_id}/agents/{agent_id}/triggers"
    assert spec["paths"][trigger]["post"]["operationId"] == "createTrigger"
    assert spec["paths"][trigger + "/{trigger_id}/invocations"]["get"]["operationId"] == (
        "listTriggerInvocations"
    )
    invocation = spec["paths"][trigger + "/{trigger_id}/invocations/{invocation_id}"]["get"]
    assert invocation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InvocationDetail"
    }


async def test_openapi_states_the_bounds_and_auth(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    create = spec["components"]["schemas"]["TriggerCreate"]
    props = create["properties"]
    assert create["additionalProperties"] is False
    assert create["required"] == ["name", "message_template"]
    assert (props["max_retries"]["minimum"], props["max_retries"]["maximum"]) == (0, 20)
    assert props["max_retries"]["default"] == 3
    assert (
        props["misfire_grace_seconds"]["minimum"],
        props["misfire_grace_seconds"]["maximum"],
    ) == (60, 604800)
    assert (props["timeout_seconds"]["minimum"], props["timeout_seconds"]["maximum"]) == (1, 900)
    assert (props["retry_delay_seconds"]["minimum"], props["retry_delay_seconds"]["maximum"]) == (
        1,
        86400,
    )
    assert props["overlap_policy"]["enum"] == ["allow", "skip", "buffer_one", "cancel_running"]
    assert "65536 bytes" in props["payload"]["description"]
    assert "16384 bytes" in props["message_template"]["description"]

    trigger_path = "/v1/tenants/{tenant_id}/projects/{project_id}/agents/{agent_id}/triggers"
    post = spec["paths"][trigger_path]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TriggerCreate"
    }
    assert set(post["responses"]) == {"201", "400", "401", "404", "409", "413", "422"}
    assert [p["name"] for p in post["parameters"]] == [
        "tenant_id", "project_id", "agent_id", "Idempotency-Key",
    ]  # fmt: skip
    patch = spec["paths"][trigger_path + "/{trigger_id}"]["patch"]
    assert "412" in patch["responses"]
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/openapi.json"]["get"]["security"] == []


async def test_docs_load_the_spec_with_assets_served_locally(api: Api) -> None:
    response = await api.client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'url: "/openapi.json"' in response.text
    assert "//" not in response.text.replace("<!doctype", "")  # no asset from another host
    script = await api.client.get("/docs/assets/swagger-ui-bundle.js")
    style = await api.client.get("/docs/assets/swagger-ui.css")
    assert (script.status_code, style.status_code) == (200, 200)
    assert "SwaggerUIBundle" in script.text
