"""Trigger CRUD: exact bodies, versions, ETags and one authored Dolt commit per change."""

from __future__ import annotations

from typing import Any

from tests.factories import record_dispatch
from tests.manage_api.conftest import TRIGGERS, WEB, Api, nightly

NIGHTLY = TRIGGERS + "/nightly"
WEB_AGENTS = WEB + "/agents"


def _expected(**overrides: object) -> dict[str, object]:
    return {
        "id": "nightly",
        "agent_id": "bot",
        "name": "Nightly report",
        "description": None,
        "enabled": True,
        "cron_expression": "30 2 * * *",
        "run_at": None,
        "cron_timezone": "Europe/Berlin",
        "message_template": "Report for {{scheduled_for_local}}",
        "payload": {},
        "max_retries": 3,
        "retry_delay_seconds": 30,
        "timeout_seconds": 30,
        "overlap_policy": "allow",
        "misfire_grace_seconds": 300,
        "catchup": "latest",
        "jitter_seconds": 0,
        "start_at": None,
        "end_at": None,
        "max_runs": None,
        "skipped": [],
        # 02:30 Berlin (UTC+1 in March) after 2026-03-02T12:00:30Z
        "next_run_at": "2026-03-03T01:30:00Z",
        "last_scheduled_for": None,
        "version": 1,
        "created_at": "2026-03-02T12:00:30Z",
        "updated_at": "2026-03-02T12:00:30Z",
        "schedule_description": "At 02:30 (Europe/Berlin)",
        "status": "active",
        "completed_reason": None,
        "pause": None,
        **overrides,
    }


PAUSED = {
    "status": "paused",
    "pause": {"note": None, "by": "acme-alice", "at": "2026-03-02T12:00:30Z"},
}


async def test_create_applies_defaults_and_commits_once_as_the_caller(web: Api) -> None:
    before = len(web.log())
    response = await web.call("POST", TRIGGERS, json=nightly())
    assert response.status_code == 201
    assert response.json() == _expected()
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == NIGHTLY
    log = web.log()
    assert len(log) == before + 1
    assert log[0] == ("acme-alice", "create trigger nightly")


async def test_get_and_list_answer_the_stored_trigger(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    await web.call("POST", TRIGGERS, json=nightly(id="hourly", cron_expression="0 * * * *"))

    got = await web.call("GET", NIGHTLY)
    assert got.status_code == 200
    assert got.json() == _expected()
    assert got.headers["etag"] == '"1"'

    listed = await web.call("GET", TRIGGERS)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == ["hourly", "nightly"]
    assert listed.json()["items"][1] == _expected()


async def test_create_without_id_generates_one(web: Api) -> None:
    body = nightly()
    del body["id"]
    response = await web.call("POST", TRIGGERS, json=body)
    assert response.status_code == 201
    trigger_id = response.json()["id"]
    assert trigger_id.startswith("t-") and len(trigger_id) == 14
    assert response.headers["location"] == f"{TRIGGERS}/{trigger_id}"
    assert web.log()[0] == ("acme-alice", f"create trigger {trigger_id}")


async def test_one_time_trigger_is_due_at_run_at(web: Api) -> None:
    body = nightly(id="once", cron_expression=None, run_at="2026-03-05T09:15:00+01:00")
    response = await web.call("POST", TRIGGERS, json=body)
    assert response.status_code == 201
    assert response.json()["run_at"] == "2026-03-05T08:15:00Z"
    assert response.json()["next_run_at"] == "2026-03-05T08:15:00Z"
    assert response.json()["cron_expression"] is None


async def test_a_trigger_created_disabled_has_no_next_run(web: Api) -> None:
    response = await web.call("POST", TRIGGERS, json=nightly(enabled=False))
    assert response.json() == _expected(enabled=False, next_run_at=None, **PAUSED)


async def test_a_fired_one_time_trigger_has_no_next_run_until_rearmed_with_a_new_run_at(
    web: Api,
) -> None:
    body = nightly(id="once", cron_expression=None, run_at="2026-03-02T13:00:00Z")
    await web.call("POST", TRIGGERS, json=body)
    record_dispatch(
        web.ctx.session_factory,
        "once",
        next_run_at=None,
        last_scheduled_for="2026-03-02T13:00:00Z",
    )
    web.clock.now = web.clock.now.replace(hour=14)
    once = TRIGGERS + "/once"
    fired = (await web.call("GET", once)).json()
    assert (fired["enabled"], fired["next_run_at"], fired["last_scheduled_for"]) == (
        True,
        None,
        "2026-03-02T13:00:00Z",
    )
    assert (fired["status"], fired["completed_reason"]) == (
        "completed",
        "fired once, at 2026-03-02T13:00:00Z",
    )
    past = await web.call("PATCH", once, json={"run_at": "2026-03-02T13:30:00Z"})
    assert past.status_code == 422
    assert past.json()["errors"] == [{"field": "run_at", "message": "must be in the future"}]
    rearmed = await web.call("PATCH", once, json={"run_at": "2026-03-02T15:00:00Z"})
    assert rearmed.status_code == 200
    assert (rearmed.json()["next_run_at"], rearmed.json()["version"]) == ("2026-03-02T15:00:00Z", 2)
    assert rearmed.json()["last_scheduled_for"] == "2026-03-02T13:00:00Z"


async def test_patch_changes_only_the_fields_sent(web: Api) -> None:
    await web.call(
        "POST", TRIGGERS, json=nightly(max_retries=7, description="d", payload={"k": [1]})
    )
    web.clock.now = web.clock.now.replace(hour=13)
    response = await web.call("PATCH", NIGHTLY, json={"name": "Renamed", "timeout_seconds": 90})
    assert response.status_code == 200
    assert response.json() == _expected(
        name="Renamed",
        timeout_seconds=90,
        max_retries=7,
        description="d",
        payload={"k": [1]},
        version=2,
        updated_at="2026-03-02T13:00:30Z",
    )
    assert response.headers["etag"] == '"2"'
    assert web.log()[0] == ("acme-alice", "update trigger nightly: name, timeout_seconds")


async def test_a_patch_that_only_disables_keeps_everything_else(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly(max_retries=5))
    response = await web.call("PATCH", NIGHTLY, json={"enabled": False})
    assert response.status_code == 200
    assert response.json() == _expected(
        enabled=False, max_retries=5, next_run_at=None, version=2, **PAUSED
    )
    assert web.log()[0] == ("acme-alice", "update trigger nightly: enabled")


async def test_patch_of_the_schedule_recomputes_next_run_at_from_now(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    web.clock.now = web.clock.now.replace(day=4)
    response = await web.call(
        "PATCH", NIGHTLY, json={"cron_expression": "0 9 * * 1-5", "cron_timezone": "Asia/Tokyo"}
    )
    assert response.status_code == 200
    # 09:00 Tokyo (UTC+9) on Thursday 2026-03-05, the first weekday 09:00 after 03-04 12:00Z.
    assert response.json()["next_run_at"] == "2026-03-05T00:00:00Z"
    assert web.log()[0] == (
        "acme-alice",
        "update trigger nightly: cron_expression, cron_timezone",
    )


async def test_patch_of_the_message_keeps_next_run_at(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    web.clock.now = web.clock.now.replace(day=20)
    response = await web.call("PATCH", NIGHTLY, json={"message_template": "hi {{trigger.name}}"})
    assert response.json()["next_run_at"] == "2026-03-03T01:30:00Z"


async def test_patch_can_switch_from_cron_to_run_at(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    response = await web.call(
        "PATCH", NIGHTLY, json={"cron_expression": None, "run_at": "2026-04-01T00:00:00Z"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["cron_expression"], body["run_at"], body["next_run_at"]) == (
        None,
        "2026-04-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
    )


async def test_explicit_null_clears_a_nullable_field(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly(description="old"))
    response = await web.call("PATCH", NIGHTLY, json={"description": None})
    assert response.status_code == 200
    assert response.json()["description"] is None


async def test_a_patch_that_changes_nothing_commits_nothing(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    before = web.log()
    response = await web.call("PATCH", NIGHTLY, json={"name": "Nightly report"})
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert web.log() == before


async def test_disable_then_enable_recomputes_from_now(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    disabled = await web.call("POST", NIGHTLY + "/disable")
    assert disabled.status_code == 200
    assert disabled.json() == _expected(enabled=False, next_run_at=None, version=2, **PAUSED)
    assert web.log()[0] == ("acme-alice", "disable trigger nightly")

    web.clock.now = web.clock.now.replace(day=10)
    enabled = await web.call("POST", NIGHTLY + "/enable")
    assert enabled.status_code == 200
    assert enabled.json() == _expected(
        next_run_at="2026-03-11T01:30:00Z", version=3, updated_at="2026-03-10T12:00:30Z"
    )
    assert enabled.headers["etag"] == '"3"'
    assert web.log()[0] == ("acme-alice", "enable trigger nightly")


async def test_disable_with_a_note_records_it_and_enable_clears_it(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    web.clock.now = web.clock.now.replace(hour=13)
    note = "Vendor API down; resume after INC-42\nis closed"
    disabled = await web.call("POST", NIGHTLY + "/disable", json={"note": note})
    assert disabled.status_code == 200
    pause = {"note": note, "by": "acme-alice", "at": "2026-03-02T13:00:30Z"}
    assert (disabled.json()["status"], disabled.json()["pause"]) == ("paused", pause)
    assert web.log()[0] == ("acme-alice", f"disable trigger nightly: {note}")

    web.clock.now = web.clock.now.replace(hour=14)
    renoted = await web.call("POST", NIGHTLY + "/disable", json={"note": "still down"})
    assert renoted.json()["pause"] == {**pause, "note": "still down", "at": "2026-03-02T14:00:30Z"}
    assert renoted.json()["version"] == 3
    same = await web.call("POST", NIGHTLY + "/disable", json={"note": "still down"})
    assert same.json()["version"] == 3
    got = await web.call("GET", NIGHTLY)
    assert got.json()["pause"]["note"] == "still down"

    enabled = await web.call("POST", NIGHTLY + "/enable")
    assert (enabled.json()["status"], enabled.json()["pause"]) == ("active", None)


async def test_a_bad_note_gets_a_422_and_changes_nothing(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    before = web.log()
    for body in ({"note": "x" * 501}, {"note": "bell\u0007"}, {"reason": "x"}, {"note": 5}):
        refused = await web.call("POST", NIGHTLY + "/disable", json=body)
        assert refused.status_code == 422, body
        assert [e["field"] for e in refused.json()["errors"]] == [next(iter(body))]
    assert web.log() == before
    assert (await web.call("GET", NIGHTLY)).json()["status"] == "active"


async def test_enabling_an_enabled_trigger_is_a_no_op(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    before = web.log()
    response = await web.call("POST", NIGHTLY + "/enable")
    assert response.status_code == 200
    assert response.json() == _expected()
    assert web.log() == before


async def test_delete_removes_the_trigger_in_one_commit(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    before = len(web.log())
    response = await web.call("DELETE", NIGHTLY)
    assert response.status_code == 204
    assert (await web.call("GET", NIGHTLY)).status_code == 404
    assert len(web.log()) == before + 1
    assert web.log()[0] == ("acme-alice", "delete trigger nightly")


async def test_missing_things_are_404(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    other_agent = WEB_AGENTS + "/ghost/triggers"
    cases = [
        ("GET", TRIGGERS + "/nope"),
        ("PATCH", TRIGGERS + "/nope"),
        ("DELETE", TRIGGERS + "/nope"),
        ("POST", TRIGGERS + "/nope/enable"),
        ("GET", other_agent),
        ("GET", other_agent + "/nightly"),
        ("GET", "/v1/tenants/acme/projects/nope/agents/bot/triggers/nightly"),
    ]
    for method, path in cases:
        kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
        response = await web.call(method, path, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"

    ghost = await web.call("POST", other_agent, json=nightly(id="other"))
    assert ghost.status_code == 404
    assert ghost.json()["detail"] == "Agent ghost not found."
    nope = await web.call(
        "POST", "/v1/tenants/acme/projects/nope/agents/bot/triggers", json=nightly()
    )
    assert nope.json()["detail"] == "Project nope not found."
