"""History lists the versions a user made (commits that changed a user field), newest first;
revert restores an old version's user fields as a new commit."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from runtime_db.models import TriggerSchedule
from tests.manage_api.conftest import BRANCH, TRIGGERS, Api, nightly

NIGHTLY = TRIGGERS + "/nightly"


def _hashes(web: Api) -> list[tuple[str, str, str]]:
    """(hash, author, message) of the branch's commits, newest first."""
    with web.ctx.store.read() as conn:
        rows = conn.execute("select commit_hash, committer, message from dolt_log(?)", (BRANCH,))
        return [(row[0], row[1], row[2]) for row in rows]


def _dispatcher_advance(web: Api) -> None:
    """What a dispatch tick does after starting the 2026-03-03T01:30Z run: it moves the
    trigger's schedule state in PostgreSQL, and commits nothing to the manage store."""
    with web.ctx.session_factory.begin() as session:
        session.execute(
            update(TriggerSchedule)
            .where(TriggerSchedule.trigger_id == "nightly")
            .values(
                next_run_at=datetime(2026, 3, 4, 1, 30, tzinfo=UTC),
                last_scheduled_for=datetime(2026, 3, 3, 1, 30, tzinfo=UTC),
            )
        )


def _definition(trigger: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in trigger.items() if k not in ("next_run_at", "last_scheduled_for")}


async def test_history_lists_user_versions_and_dispatch_writes_none(web: Api) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    created = (await web.call("POST", TRIGGERS, json=nightly())).json()
    renamed = (await web.call("PATCH", NIGHTLY, json={"name": "Renamed"})).json()
    _dispatcher_advance(web)
    retried = (await web.call("PATCH", NIGHTLY, json={"max_retries": 9})).json()
    log = _hashes(web)
    assert [(author, message) for _, author, message in log[:3]] == [
        ("acme-alice", "update trigger nightly: max_retries"),
        ("acme-alice", "update trigger nightly: name"),
        ("acme-alice", "create trigger nightly"),
    ]

    response = await web.call("GET", NIGHTLY + "/history")
    assert response.status_code == 200
    body = response.json()
    assert body["trigger_id"] == "nightly"
    assert [
        (item["commit"], item["author"], item["message"], _definition(item["trigger"]))
        for item in body["items"]
    ] == [
        (log[0][0], "acme-alice", "update trigger nightly: max_retries", _definition(retried)),
        (log[1][0], "acme-alice", "update trigger nightly: name", _definition(renamed)),
        (log[2][0], "acme-alice", "create trigger nightly", _definition(created)),
    ]
    # Where the trigger stands comes from schedule state: an edit of retries does not move it.
    assert (retried["next_run_at"], retried["last_scheduled_for"]) == (
        "2026-03-04T01:30:00Z",
        "2026-03-03T01:30:00Z",
    )
    for item in body["items"]:
        moment = datetime.strptime(item["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert started <= moment <= datetime.now(UTC)


async def test_revert_restores_user_fields_as_a_new_version(web: Api) -> None:
    created = (await web.call("POST", TRIGGERS, json=nightly())).json()
    await web.call(
        "PATCH",
        NIGHTLY,
        json={"cron_expression": "0 6 * * *", "cron_timezone": "UTC", "max_retries": 0},
    )
    await web.call("POST", NIGHTLY + "/disable")
    first = (await web.call("GET", NIGHTLY + "/history")).json()["items"][-1]["commit"]
    web.clock.now = web.clock.now.replace(day=5)
    pending = web.add_invocation("nightly", "pending", 6)

    response = await web.call("POST", NIGHTLY + "/revert", json={"commit": first})
    assert response.status_code == 200
    assert response.json() == {
        **created,
        "version": 4,
        "next_run_at": "2026-03-06T01:30:00Z",  # recomputed from now (03-05 12:00:30Z)
        "updated_at": "2026-03-05T12:00:30Z",
    }
    assert response.headers["etag"] == '"4"'
    assert web.log()[0] == ("acme-alice", f"revert trigger nightly to {first}")
    history = (await web.call("GET", NIGHTLY + "/history")).json()["items"]
    assert [item["message"] for item in history] == [
        f"revert trigger nightly to {first}",
        "disable trigger nightly",
        "update trigger nightly: cron_expression, cron_timezone, max_retries",
        "create trigger nightly",
    ]
    # Reverting the schedule is a schedule change: pending runs of the old one are moot.
    assert web.invocations()[pending][0] == "cancelled"


async def test_reverting_to_the_current_fields_commits_nothing(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    head = (await web.call("GET", NIGHTLY + "/history")).json()["items"][0]["commit"]
    log = web.log()
    response = await web.call("POST", NIGHTLY + "/revert", json={"commit": head})
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert web.log() == log


async def test_revert_to_an_unknown_commit_names_commit(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    before_trigger = _hashes(web)[1]
    assert before_trigger[2] == "create agent bot"
    log = web.log()
    for commit in ("0" * 40, before_trigger[0]):
        response = await web.call("POST", NIGHTLY + "/revert", json={"commit": commit})
        assert response.status_code == 422, commit
        assert response.json()["errors"] == [
            {"field": "commit", "message": "is not a version of trigger nightly"}
        ]
    malformed = await web.call("POST", NIGHTLY + "/revert", json={"commit": "HEAD~1"})
    assert malformed.status_code == 422
    assert [e["field"] for e in malformed.json()["errors"]] == ["commit"]
    assert web.log() == log


async def test_history_of_a_missing_trigger_is_404(web: Api) -> None:
    response = await web.call("GET", TRIGGERS + "/ghost/history")
    assert response.status_code == 404


async def test_history_pages_newest_first_with_a_cursor(web: Api) -> None:
    assert (await web.call("POST", TRIGGERS, json=nightly())).status_code == 201
    for retries in range(1, 5):
        patched = await web.call("PATCH", NIGHTLY, json={"max_retries": retries})
        assert patched.status_code == 200
    first = (await web.call("GET", NIGHTLY + "/history", params={"limit": 2})).json()
    more = await web.call("PATCH", NIGHTLY, json={"max_retries": 9})  # new versions go on top
    assert more.status_code == 200
    second = (
        await web.call(
            "GET", NIGHTLY + "/history", params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    third = (
        await web.call(
            "GET", NIGHTLY + "/history", params={"limit": 2, "cursor": second["next_cursor"]}
        )
    ).json()
    retries_of = [
        [item["trigger"]["max_retries"] for item in page["items"]]
        for page in (first, second, third)
    ]
    assert retries_of == [[4, 3], [2, 1], [3]]
    assert third["next_cursor"] is None
    default = (await web.call("GET", NIGHTLY + "/history")).json()
    assert (len(default["items"]), default["next_cursor"]) == (6, None)
