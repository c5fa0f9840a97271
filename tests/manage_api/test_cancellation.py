"""Rescheduling, disabling or deleting a trigger cancels its pending invocations; running ones
finish, and other triggers' invocations are untouched."""

from __future__ import annotations

from tests.manage_api.conftest import TRIGGERS, Api, nightly

NIGHTLY = TRIGGERS + "/nightly"


async def _setup(web: Api) -> dict[str, str]:
    await web.call("POST", TRIGGERS, json=nightly())
    await web.call("POST", TRIGGERS, json=nightly(id="other"))
    return {
        "pending": web.add_invocation("nightly", "pending", 1),
        "pending2": web.add_invocation("nightly", "pending", 2),
        "running": web.add_invocation("nightly", "running", 3),
        "done": web.add_invocation("nightly", "completed", 4),
        "other": web.add_invocation("other", "pending", 1),
    }


async def _assert_cancelled(web: Api, ids: dict[str, str], reason: str) -> None:
    assert web.invocations() == {
        ids["pending"]: ("cancelled", reason),
        ids["pending2"]: ("cancelled", reason),
        ids["running"]: ("running", None),
        ids["done"]: ("completed", None),
        ids["other"]: ("pending", None),
    }


async def test_a_schedule_change_cancels_pending_runs(web: Api) -> None:
    ids = await _setup(web)
    response = await web.call("PATCH", NIGHTLY, json={"cron_expression": "0 4 * * *"})
    assert response.status_code == 200
    await _assert_cancelled(web, ids, "update trigger nightly: cron_expression")


async def test_a_timezone_change_is_a_schedule_change(web: Api) -> None:
    ids = await _setup(web)
    await web.call("PATCH", NIGHTLY, json={"cron_timezone": "UTC"})
    await _assert_cancelled(web, ids, "update trigger nightly: cron_timezone")


async def test_disable_cancels_pending_runs(web: Api) -> None:
    ids = await _setup(web)
    response = await web.call("POST", NIGHTLY + "/disable")
    assert response.status_code == 200
    await _assert_cancelled(web, ids, "disable trigger nightly")


async def test_delete_cancels_pending_runs(web: Api) -> None:
    ids = await _setup(web)
    assert (await web.call("DELETE", NIGHTLY)).status_code == 204
    await _assert_cancelled(web, ids, "trigger nightly deleted")


async def test_other_changes_leave_pending_runs_alone(web: Api) -> None:
    ids = await _setup(web)
    before = web.invocations()
    response = await web.call(
        "PATCH", NIGHTLY, json={"message_template": "new {{trigger.id}}", "max_retries": 1}
    )
    assert response.status_code == 200
    assert web.invocations() == before
    assert before[ids["pending"]] == ("pending", None)


async def test_a_refused_change_cancels_nothing(web: Api) -> None:
    ids = await _setup(web)
    before = web.invocations()
    stale = await web.call("POST", NIGHTLY + "/disable", headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    invalid = await web.call("PATCH", NIGHTLY, json={"cron_expression": "99 * * * *"})
    assert invalid.status_code == 422
    assert web.invocations() == before
    assert before[ids["pending"]] == ("pending", None)
