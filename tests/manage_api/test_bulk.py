"""Bulk upsert: everything validated before anything is written, then one commit; each trigger
gets exactly what a single create or update would give it."""

from __future__ import annotations

from typing import Any

from tests.manage_api.conftest import TRIGGERS, WEB, Api, nightly

BULK = WEB + "/triggers"
TWO = {"name": "Two", "endpoint": {"url": "https://two.example/a2a", "protocol": "a2a"}}


def _items() -> list[dict[str, Any]]:
    return [
        {**nightly(), "agent_id": "bot"},
        {
            **nightly(id="standup", cron_expression="0 9 * * 1-5"),
            "cron_timezone": "America/New_York",
            "agent_id": "two",
        },
        {**nightly(id="once", cron_expression=None, run_at="2026-03-10T08:00:00+01:00"),
         "agent_id": "bot"},
    ]  # fmt: skip


async def test_bulk_creates_in_one_commit_exactly_as_single_creates(web: Api) -> None:
    await web.call("PUT", WEB + "/agents/two", json=TWO)
    log = web.log()
    response = await web.call("PUT", BULK, json={"triggers": _items()})
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (
        ["nightly", "standup", "once"],
        [],
        [],
    )
    assert [(t["id"], t["next_run_at"], t["version"]) for t in body["items"]] == [
        ("nightly", "2026-03-03T01:30:00Z", 1),  # 02:30 Berlin (UTC+1)
        ("standup", "2026-03-02T14:00:00Z", 1),  # 09:00 New York (UTC-5), Monday
        ("once", "2026-03-10T07:00:00Z", 1),
    ]
    assert web.log() == [("acme-alice", "bulk upsert 3 triggers"), *log]

    # The same definitions created one by one in another project come out identical.
    await web.call("POST", "/v1/tenants/acme/projects", json={"id": "shop", "name": "Shop"})
    shop = "/v1/tenants/acme/projects/shop/agents"
    await web.call("PUT", shop + "/bot", json={"name": "Bot", "endpoint": TWO["endpoint"]})
    await web.call("PUT", shop + "/two", json=TWO)
    for item, bulk_trigger in zip(_items(), body["items"], strict=True):
        single = {k: v for k, v in item.items() if k != "agent_id"}
        created = await web.call("POST", f"{shop}/{item['agent_id']}/triggers", json=single)
        assert created.json() == bulk_trigger
    assert (await web.call("GET", BULK)).json() == {
        "items": sorted(body["items"], key=lambda t: t["id"]),
        "next_cursor": None,
    }


async def test_bulk_validates_everything_before_writing_anything(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly(id="kept"))
    log = web.log()
    items = _items()
    items[0]["name"] = "Changed"  # valid on its own
    items[1]["cron_expression"] = "0 9 * * 8"
    items[2]["agent_id"] = "ghost"
    items.append({**nightly(id="late", cron_expression=None, run_at="2026-03-01T00:00:00Z"),
                  "agent_id": "bot", "version": 3})  # fmt: skip
    response = await web.call("PUT", BULK, json={"triggers": items})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "triggers.3.version", "message": "is server-managed and cannot be set"},
        {
            "field": "triggers.1.cron_expression",
            "message": "day-of-week field '8' is invalid (allowed 0-7 or sun-sat)",
        },
    ]
    items[1]["cron_expression"] = "0 9 * * 1-5"
    del items[3]["version"]
    response = await web.call("PUT", BULK, json={"triggers": items})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "triggers.1.agent_id", "message": "agent two not found"},
        {"field": "triggers.2.agent_id", "message": "agent ghost not found"},
        {"field": "triggers.3.run_at", "message": "must be in the future"},
    ]
    assert web.log() == log
    assert [t["id"] for t in (await web.call("GET", BULK)).json()["items"]] == ["kept"]


async def test_bulk_refuses_repeated_ids(web: Api) -> None:
    item = {**nightly(), "agent_id": "bot"}
    response = await web.call("PUT", BULK, json={"triggers": [item, item]})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "triggers.1.id", "message": "repeats triggers.0.id"}
    ]


async def test_bulk_updates_existing_triggers_like_a_full_update(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    await web.call("POST", TRIGGERS, json=nightly(id="same"))
    pending = web.add_invocation("nightly", "pending", 1)
    untouched = web.add_invocation("same", "pending", 1)
    web.clock.now = web.clock.now.replace(day=4)
    log = web.log()
    items = [
        {**nightly(cron_expression="15 8 * * *"), "agent_id": "bot"},
        {**nightly(id="same"), "agent_id": "bot"},
        {**nightly(id="new"), "agent_id": "bot"},
    ]
    response = await web.call("PUT", BULK, json={"triggers": items})
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (["new"], ["nightly"], ["same"])
    assert [(t["id"], t["next_run_at"], t["version"], t["updated_at"]) for t in body["items"]] == [
        ("nightly", "2026-03-05T07:15:00Z", 2, "2026-03-04T12:00:30Z"),
        ("same", "2026-03-03T01:30:00Z", 1, "2026-03-02T12:00:30Z"),
        ("new", "2026-03-05T01:30:00Z", 1, "2026-03-04T12:00:30Z"),
    ]
    assert web.log() == [("acme-alice", "bulk upsert 3 triggers"), *log]
    invocations = web.invocations()
    assert invocations[pending] == ("cancelled", "bulk upsert 3 triggers")
    assert invocations[untouched] == ("pending", None)


async def test_a_bulk_upsert_that_changes_nothing_commits_nothing(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    log = web.log()
    response = await web.call("PUT", BULK, json={"triggers": [{**nightly(), "agent_id": "bot"}]})
    assert response.json()["unchanged"] == ["nightly"]
    assert web.log() == log


async def test_bulk_cannot_move_a_trigger_to_another_agent(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    await web.call("PUT", WEB + "/agents/two", json=TWO)
    response = await web.call("PUT", BULK, json={"triggers": [{**nightly(), "agent_id": "two"}]})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "triggers.0.agent_id",
            "message": "trigger nightly belongs to agent bot; delete it to move it",
        }
    ]
