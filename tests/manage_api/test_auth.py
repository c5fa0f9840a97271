"""Bearer keys: none -> 401; another tenant's anything -> 404 exactly as if absent; admin keys
see every tenant, and their principal authors the commits they cause."""

from __future__ import annotations

from tests.manage_api.conftest import BOT, TRIGGERS, WEB, Api, nightly

NIGHTLY = TRIGGERS + "/nightly"
ENDPOINTS = [
    ("GET", "/v1/tenants/acme/projects"),
    ("POST", "/v1/tenants/acme/projects"),
    ("GET", WEB),
    ("DELETE", WEB),
    ("GET", WEB + "/agents"),
    ("PUT", BOT),
    ("GET", BOT),
    ("DELETE", BOT),
    ("POST", TRIGGERS),
    ("GET", TRIGGERS),
    ("GET", NIGHTLY),
    ("PATCH", NIGHTLY),
    ("DELETE", NIGHTLY),
    ("POST", NIGHTLY + "/enable"),
    ("POST", NIGHTLY + "/disable"),
    ("GET", NIGHTLY + "/upcoming"),
    ("GET", NIGHTLY + "/history"),
    ("POST", NIGHTLY + "/revert"),
    ("GET", WEB + "/triggers"),
    ("PUT", WEB + "/triggers"),
]


async def test_no_key_or_a_bad_key_is_401(web: Api) -> None:
    for method, path in ENDPOINTS:
        for headers in ({}, {"Authorization": "Bearer tk_not-a-key"}, {"Authorization": "Basic x"}):
            response = await web.client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"] == "Bearer"


async def test_another_tenants_key_sees_nothing(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    log = web.log()
    absent = await web.call("GET", "/v1/tenants/acme/projects/nope", "acme")
    for method, path in ENDPOINTS:
        response = await web.call(method, path, "globex", json={"name": "x"})
        assert response.status_code == 404, (method, path)
        assert response.json() == {**absent.json(), "detail": "Not found."}
    assert web.log() == log
    assert (await web.call("GET", NIGHTLY)).json()["version"] == 1


async def test_an_admin_key_sees_every_tenant_and_authors_its_commits(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    listed = await web.call("GET", "/v1/tenants/acme/projects", "admin")
    assert [p["id"] for p in listed.json()["items"]] == ["web"]
    response = await web.call("POST", NIGHTLY + "/disable", "admin")
    assert response.status_code == 200
    assert web.log()[0] == ("root-admin", "disable trigger nightly")
    created = await web.call(
        "POST", "/v1/tenants/globex/projects", "admin", json={"id": "x", "name": "X"}
    )
    assert created.status_code == 201
    assert web.log("globex/x/main")[0] == ("root-admin", "create project x")
    mine = await web.call("GET", "/v1/tenants/globex/projects", "globex")
    assert [p["id"] for p in mine.json()["items"]] == ["x"]
