"""Agents: PUT creates or replaces, one commit per real change; secrets only by env var name."""

from __future__ import annotations

from tests.manage_api.conftest import BOT, TRIGGERS, WEB, Api, nightly

ENV_NAME = "[A-Za-z_][A-Za-z0-9_]*"
HOOK = {"url": "https://hooks.example/a", "protocol": "webhook", "auth_header_env": "HOOK_AUTH"}


async def test_put_creates_then_replaces(web: Api) -> None:
    log = web.log()
    created = await web.call("PUT", WEB + "/agents/writer", json={"name": "W", "endpoint": HOOK})
    assert created.status_code == 201
    assert created.json() == {
        "id": "writer",
        "name": "W",
        "endpoint": HOOK,
        "created_at": "2026-03-02T12:00:30Z",
        "updated_at": "2026-03-02T12:00:30Z",
    }
    assert web.log() == [("acme-alice", "create agent writer"), *log]

    web.clock.now = web.clock.now.replace(hour=15)
    endpoint = {"url": "http://10.0.0.5:8080/a2a", "protocol": "a2a"}
    replaced = await web.call(
        "PUT", WEB + "/agents/writer", json={"name": "W2", "endpoint": endpoint}
    )
    assert replaced.status_code == 200
    assert replaced.json() == {
        "id": "writer",
        "name": "W2",
        "endpoint": {**endpoint, "auth_header_env": None},
        "created_at": "2026-03-02T12:00:30Z",
        "updated_at": "2026-03-02T15:00:30Z",
    }
    assert web.log()[0] == ("acme-alice", "update agent writer")

    log = web.log()
    same = await web.call("PUT", WEB + "/agents/writer", json={"name": "W2", "endpoint": endpoint})
    assert same.status_code == 200
    assert same.json() == replaced.json()
    assert web.log() == log


async def test_get_and_list(web: Api) -> None:
    await web.call("PUT", WEB + "/agents/alpha", json={"name": "A", "endpoint": HOOK})
    listed = await web.call("GET", WEB + "/agents")
    assert [a["id"] for a in listed.json()["items"]] == ["alpha", "bot"]
    got = await web.call("GET", BOT)
    assert got.json() == listed.json()["items"][1]
    assert got.json()["endpoint"] == {
        "url": "http://127.0.0.1:9/hook",
        "protocol": "webhook",
        "auth_header_env": None,
    }
    assert (await web.call("GET", WEB + "/agents/ghost")).status_code == 404


async def test_an_agent_with_triggers_cannot_be_deleted(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    log = web.log()
    refused = await web.call("DELETE", BOT)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "Agent bot still has 1 trigger(s) (nightly); delete them first."
    )
    assert web.log() == log
    await web.call("DELETE", TRIGGERS + "/nightly")
    assert (await web.call("DELETE", BOT)).status_code == 204
    assert web.log()[0] == ("acme-alice", "delete agent bot")
    assert (await web.call("GET", BOT)).status_code == 404
    assert (await web.call("DELETE", BOT)).status_code == 404


async def test_put_validates_the_endpoint(web: Api) -> None:
    bad = {"url": "ftp://x/y", "protocol": "grpc", "auth_header_env": "1-BAD", "token": "s3cret"}
    response = await web.call("PUT", WEB + "/agents/writer", json={"name": "", "endpoint": bad})
    assert response.status_code == 422
    assert sorted((e["field"], e["message"]) for e in response.json()["errors"]) == [
        ("endpoint.auth_header_env", f"must be an environment variable name ({ENV_NAME})"),
        ("endpoint.protocol", "Input should be 'webhook' or 'a2a'"),
        ("endpoint.token", "Extra inputs are not permitted"),
        ("endpoint.url", "must be an absolute http:// or https:// URL"),
        ("name", "String should have at least 1 character"),
    ]  # fmt: skip
    path = await web.call("PUT", WEB + "/agents/Bad!", json={"name": "x", "endpoint": HOOK})
    assert path.status_code == 422
    assert path.json()["errors"][0]["field"] == "agent_id"
