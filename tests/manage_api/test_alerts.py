"""Alert hooks: PUT creates or replaces, GET/list/DELETE, deliveries; bad input names the field."""

from __future__ import annotations

from tests.manage_api.conftest import WEB, Api

ALERTS = WEB + "/alerts"
HOOK = {"url": "https://ops.example/hooks/tk", "events": ["invocation.failed"]}


async def test_put_creates_then_replaces_and_lists(web: Api) -> None:
    created = await web.call("PUT", ALERTS + "/pager", json=HOOK)
    assert created.status_code == 201
    assert created.json() == {
        "id": "pager",
        "url": "https://ops.example/hooks/tk",
        "events": ["invocation.failed"],
        "secret_env": None,
        "created_at": "2026-03-02T12:00:30Z",
        "updated_at": "2026-03-02T12:00:30Z",
    }
    web.clock.now = web.clock.now.replace(hour=15)
    changed = {**HOOK, "events": ["invocation.missed", "scheduler.stalled"], "secret_env": "TK_SIG"}
    replaced = await web.call("PUT", ALERTS + "/pager", json=changed)
    assert replaced.status_code == 200
    assert replaced.json()["events"] == ["invocation.missed", "scheduler.stalled"]
    assert replaced.json()["secret_env"] == "TK_SIG"
    assert replaced.json()["updated_at"] == "2026-03-02T15:00:30Z"
    assert (await web.call("PUT", ALERTS + "/chat", json=HOOK)).status_code == 201

    listed = await web.call("GET", ALERTS)
    assert [h["id"] for h in listed.json()["items"]] == ["chat", "pager"]
    got = await web.call("GET", ALERTS + "/pager")
    assert got.json() == replaced.json()
    deliveries = await web.call("GET", ALERTS + "/pager/deliveries")
    assert (deliveries.status_code, deliveries.json()) == (200, {"items": []})


async def test_delete_removes_the_hook(web: Api) -> None:
    await web.call("PUT", ALERTS + "/pager", json=HOOK)
    assert (await web.call("DELETE", ALERTS + "/pager")).status_code == 204
    assert (await web.call("GET", ALERTS + "/pager")).status_code == 404
    assert (await web.call("DELETE", ALERTS + "/pager")).status_code == 404
    assert (await web.call("GET", ALERTS + "/pager/deliveries")).status_code == 404
    assert (await web.call("GET", ALERTS)).json() == {"items": []}


async def test_bad_hooks_get_a_422_naming_each_field(web: Api) -> None:
    bad = {"url": "ftp://x/y", "events": ["invocation.failed", "run.exploded"], "secret_env": "1x"}
    response = await web.call("PUT", ALERTS + "/pager", json=bad)
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["errors"]) == [
        "events.1",
        "secret_env",
        "url",
    ]
    twice = {**HOOK, "events": ["invocation.failed", "invocation.failed"]}
    duplicate = await web.call("PUT", ALERTS + "/pager", json=twice)
    assert duplicate.status_code == 422
    assert [e["field"] for e in duplicate.json()["errors"]] == ["events"]
    empty = await web.call("PUT", ALERTS + "/pager", json={**HOOK, "events": []})
    assert [e["field"] for e in empty.json()["errors"]] == ["events"]
    path = await web.call("PUT", ALERTS + "/Bad%20Id", json=HOOK)
    assert (path.status_code, path.json()["errors"][0]["field"]) == (422, "alert_id")
    assert (await web.call("GET", ALERTS)).json() == {"items": []}


async def test_hooks_are_per_tenant_and_need_the_project(web: Api) -> None:
    await web.call("PUT", ALERTS + "/pager", json=HOOK)
    assert (await web.call("GET", ALERTS + "/pager", who="globex")).status_code == 404
    missing = await web.call("PUT", "/v1/tenants/acme/projects/ghost/alerts/pager", json=HOOK)
    assert missing.status_code == 404


async def test_deleting_the_project_deletes_its_hooks(web: Api) -> None:
    await web.call("PUT", ALERTS + "/pager", json=HOOK)
    assert (await web.call("DELETE", WEB)).status_code == 204
    assert await web.call("POST", "/v1/tenants/acme/projects", json={"id": "web", "name": "W"})
    assert (await web.call("GET", ALERTS)).json() == {"items": []}
