"""Projects: a branch per project holding its row; delete stops, cancels, then removes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from manage_db.store import ManageStore, Write, branch_heads
from manage_db.triggers import list_triggers_at
from tests.manage_api.conftest import TRIGGERS, WEB, Api, nightly

PROJECTS = "/v1/tenants/acme/projects"


class _RecordingStore(ManageStore):
    """The real store, noting each commit it makes: a deleted branch's commits stay readable
    by hash, so the commit made just before the branch goes can still be inspected."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.commits: list[str] = []

    @contextmanager
    def write(self, branch: str, *, author: str, message: str) -> Iterator[Write]:
        with super().write(branch, author=author, message=message) as unit:
            yield unit
        if unit.commit_hash is not None:
            self.commits.append(unit.commit_hash)


def _branches(api: Api) -> set[str]:
    with api.ctx.store.read() as conn:
        return set(branch_heads(conn))


async def test_create_makes_the_branch_and_one_commit_on_it(api: Api) -> None:
    main_log = api.log("main")
    response = await api.call(
        "POST", PROJECTS, json={"id": "web", "name": "Web", "description": "site"}
    )
    assert response.status_code == 201
    assert response.json() == {
        "id": "web",
        "tenant_id": "acme",
        "name": "Web",
        "description": "site",
        "created_at": "2026-03-02T12:00:30Z",
        "updated_at": "2026-03-02T12:00:30Z",
    }
    assert response.headers["location"] == PROJECTS + "/web"
    assert _branches(api) == {"main", "acme/web/main"}
    assert api.log() == [("acme-alice", "create project web"), *main_log]
    assert api.log("main") == main_log


async def test_create_is_idempotent_by_id(api: Api) -> None:
    first = await api.call("POST", PROJECTS, json={"id": "web", "name": "Web"})
    log = api.log()
    again = await api.call("POST", PROJECTS, json={"id": "web", "name": "Web"})
    assert again.status_code == 200
    assert again.json() == first.json()
    conflict = await api.call("POST", PROJECTS, json={"id": "web", "name": "Other"})
    assert conflict.status_code == 409
    assert api.log() == log


async def test_create_validates_the_body(api: Api) -> None:
    response = await api.call("POST", PROJECTS, json={"id": "No Spaces", "extra": 1})
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["errors"]) == ["extra", "id", "name"]
    assert _branches(api) == {"main"}


async def test_list_and_get(api: Api) -> None:
    for project in ("zeta", "alpha"):
        await api.call("POST", PROJECTS, json={"id": project, "name": project.title()})
    await api.call("POST", "/v1/tenants/globex/projects", "globex", json={"id": "x", "name": "X"})
    listed = await api.call("GET", PROJECTS)
    assert listed.status_code == 200
    assert [(p["id"], p["name"]) for p in listed.json()["items"]] == [
        ("alpha", "Alpha"),
        ("zeta", "Zeta"),
    ]
    got = await api.call("GET", PROJECTS + "/zeta")
    assert got.json() == listed.json()["items"][1]
    assert (await api.call("GET", PROJECTS + "/nope")).status_code == 404


async def test_delete_disables_cancels_and_removes_the_branch(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    await web.call("POST", "/v1/tenants/acme/projects", json={"id": "shop", "name": "Shop"})
    pending = web.add_invocation("nightly", "pending", 1)
    running = web.add_invocation("nightly", "running", 2)
    elsewhere = web.add_invocation("nightly", "pending", 1, project_id="shop")

    await web.call("POST", TRIGGERS, json=nightly(id="off", enabled=False))
    web.ctx.store = store = _RecordingStore(web.ctx.store.path)

    response = await web.call("DELETE", WEB)
    assert response.status_code == 204
    [commit] = store.commits
    with store.read() as conn:
        row = conn.execute("select committer, message from dolt_log(?) limit 1", (commit,))
        assert tuple(row.fetchone()) == (
            "acme-alice",
            "disable 1 trigger(s) of deleted project web",
        )
        assert [
            (t.id, t.enabled, t.next_run_at, t.version) for t in list_triggers_at(conn, commit)
        ] == [
            ("nightly", False, None, 2),
            ("off", False, None, 1),
        ]
    assert _branches(web) == {"main", "acme/shop/main"}
    assert web.invocations() == {
        pending: ("cancelled", "project web deleted"),
        running: ("running", None),
        elsewhere: ("pending", None),
    }
    assert (await web.call("GET", WEB)).status_code == 404
    assert (await web.call("GET", TRIGGERS)).status_code == 404
    assert [p["id"] for p in (await web.call("GET", PROJECTS)).json()["items"]] == ["shop"]
    assert (await web.call("DELETE", WEB)).status_code == 404
