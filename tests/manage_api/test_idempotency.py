"""A create is safe to repeat: by client id or by Idempotency-Key, same body -> 200 with the
existing trigger and no commit; a different body -> 409 and nothing changes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.factories import record_dispatch
from tests.manage_api.conftest import BOT, TRIGGERS, WEB, Api, nightly


async def test_same_id_same_body_answers_the_existing_trigger(web: Api) -> None:
    first = await web.call("POST", TRIGGERS, json=nightly())
    log = web.log()
    web.clock.now += timedelta(hours=1)
    again = await web.call("POST", TRIGGERS, json=nightly())
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["etag"] == '"1"'
    assert again.headers["location"] == TRIGGERS + "/nightly"
    assert web.log() == log


async def test_defaults_sent_explicitly_are_the_same_body(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    again = await web.call(
        "POST", TRIGGERS, json=nightly(enabled=True, max_retries=3, payload={}, description=None)
    )
    assert again.status_code == 200


async def test_same_id_different_body_is_409(web: Api) -> None:
    first = await web.call("POST", TRIGGERS, json=nightly())
    log = web.log()
    again = await web.call("POST", TRIGGERS, json=nightly(cron_expression="0 3 * * *"))
    assert again.status_code == 409
    assert again.json()["detail"] == ("Trigger nightly already exists with other fields.")
    assert (await web.call("GET", TRIGGERS + "/nightly")).json() == first.json()
    assert web.log() == log


async def test_same_id_under_another_agent_is_409(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    agent = {"name": "Two", "endpoint": {"url": "https://two.example/a2a", "protocol": "a2a"}}
    await web.call("PUT", WEB + "/agents/two", json=agent)
    again = await web.call("POST", WEB + "/agents/two/triggers", json=nightly())
    assert again.status_code == 409


async def test_a_repeated_one_time_create_is_idempotent_after_run_at_passed(web: Api) -> None:
    body = nightly(id="once", cron_expression=None, run_at="2026-03-02T12:05:00Z")
    assert (await web.call("POST", TRIGGERS, json=body)).status_code == 201
    web.clock.now += timedelta(minutes=10)
    assert (await web.call("POST", TRIGGERS, json=body)).status_code == 200


async def test_a_repeated_one_time_create_is_idempotent_after_it_fired(web: Api) -> None:
    """A late retry of the original create still names the trigger after it fired."""
    body = nightly(id="once", cron_expression=None, run_at="2026-03-02T12:05:00Z")
    assert (await web.call("POST", TRIGGERS, json=body)).status_code == 201
    record_dispatch(
        web.ctx.session_factory,
        "once",
        next_run_at=None,
        last_scheduled_for="2026-03-02T12:05:00Z",
    )
    web.clock.now += timedelta(minutes=10)
    log = web.log()

    again = await web.call("POST", TRIGGERS, json=body)

    assert again.status_code == 200
    assert (again.json()["enabled"], again.json()["next_run_at"]) == (True, None)
    assert again.json()["last_scheduled_for"] == "2026-03-02T12:05:00Z"
    assert web.log() == log
    changed = await web.call("POST", TRIGGERS, json={**body, "name": "other"})
    assert changed.status_code == 409


async def test_idempotency_key_makes_a_create_without_id_repeatable(web: Api) -> None:
    body = nightly()
    del body["id"]
    key = {"Idempotency-Key": "form-submit-42"}
    first = await web.call("POST", TRIGGERS, json=body, headers=key)
    log = web.log()
    again = await web.call("POST", TRIGGERS, json=body, headers=key)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert web.log() == log
    assert len((await web.call("GET", TRIGGERS)).json()["items"]) == 1


async def test_idempotency_key_with_a_different_body_is_409(web: Api) -> None:
    body = nightly()
    del body["id"]
    key = {"Idempotency-Key": "form-submit-42"}
    first = await web.call("POST", TRIGGERS, json=body, headers=key)
    log = web.log()
    again = await web.call("POST", TRIGGERS, json={**body, "name": "Other"}, headers=key)
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"This Idempotency-Key created trigger {first.json()['id']} with other fields."
    )
    assert web.log() == log


async def test_different_keys_create_different_triggers(web: Api) -> None:
    body = nightly()
    del body["id"]
    one = await web.call("POST", TRIGGERS, json=body, headers={"Idempotency-Key": "a"})
    two = await web.call("POST", TRIGGERS, json=body, headers={"Idempotency-Key": "b"})
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json()["id"] != two.json()["id"]


async def test_a_rapid_double_submit_creates_one_trigger(web: Api) -> None:
    body = nightly()
    del body["id"]
    key = {"Idempotency-Key": "double-click"}
    responses = await asyncio.gather(
        web.call("POST", TRIGGERS, json=body, headers=key),
        web.call("POST", TRIGGERS, json=body, headers=key),
    )
    assert sorted(r.status_code for r in responses) == [200, 201]
    assert responses[0].json() == responses[1].json()
    assert len((await web.call("GET", TRIGGERS)).json()["items"]) == 1
    assert BOT in responses[0].headers["location"]
