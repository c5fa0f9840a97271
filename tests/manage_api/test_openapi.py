"""`/openapi.json` is OpenAPI 3.1 covering every route the app serves, with the documented
bounds; `/docs` renders it. Neither needs a key."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from manage_api.app import api_routes
from tests.manage_api.conftest import Api


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


async def test_openapi_covers_every_route(api: Api) -> None:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"] == "3.1.0"
    served = {
        (route.path, method.lower())
        for route in api_routes(api.ctx)
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented == served
    schemas = spec["components"]["schemas"]
    assert {ref.removeprefix("#/components/schemas/") for ref in _refs(spec)} <= set(schemas)


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
    ) == (
        60,
        604800,
    )
    assert (props["timeout_seconds"]["minimum"], props["timeout_seconds"]["maximum"]) == (1, 900)
    assert (props["retry_delay_seconds"]["minimum"], props["retry_delay_seconds"]["maximum"]) == (
        1,
        86400,
    )
    assert props["overlap_policy"]["enum"] == ["allow", "skip"]
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


async def test_docs_page_loads_the_spec(api: Api) -> None:
    response = await api.client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'url: "/openapi.json"' in response.text
