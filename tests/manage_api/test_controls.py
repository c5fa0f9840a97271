"""Scheduling controls through the API, with exact instants: skip and unskip around a DST
change, jitter, a window, max_runs, the completed state, schedule preview; bad input gets a 422
naming the field and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from manage_db.jitter import jitter_key, jitter_offset
from tests.factories import record_dispatch
from tests.manage_api.conftest import TRIGGERS, WEB, Api, nightly

NIGHTLY = TRIGGERS + "/nightly"
PREVIEW = WEB + "/schedule-preview"


def _upcoming(instants: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(i["utc"], i["skipped"]) for i in instants]


async def test_skip_and_unskip_around_the_spring_forward(web: Api) -> None:
    web.clock.now = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    await web.call("POST", TRIGGERS, json=nightly())
    # 02:30 Berlin: 03-28 01:30Z; 03-29 has no 02:30, fires 03:00 CEST = 01:00Z; 03-30 00:30Z.
    skipped = await web.call("POST", NIGHTLY + "/skip", json={"instants": ["2026-03-29T01:00:00Z"]})
    assert skipped.status_code == 200, skipped.text
    assert (skipped.json()["skipped"], skipped.json()["version"]) == (["2026-03-29T01:00:00Z"], 2)
    assert web.log()[0] == ("acme-alice", "skip trigger nightly: 2026-03-29T01:00:00Z")
    upcoming = await web.call("GET", NIGHTLY + "/upcoming", params={"count": "3"})
    assert _upcoming(upcoming.json()["instants"]) == [
        ("2026-03-28T01:30:00Z", False),
        ("2026-03-29T01:00:00Z", True),
        ("2026-03-30T00:30:00Z", False),
    ]

    following = await web.call("POST", NIGHTLY + "/skip", json={"next": 1})
    assert following.json()["skipped"] == ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z"]

    restored = await web.call(
        "POST", NIGHTLY + "/unskip", json={"instants": ["2026-03-29T03:00:00+02:00"]}
    )
    assert restored.status_code == 200, restored.text
    assert (restored.json()["skipped"], restored.json()["version"]) == (
        ["2026-03-28T01:30:00Z"],
        4,
    )


async def test_skips_of_what_is_not_a_future_fire_time_are_422_and_change_nothing(
    web: Api,
) -> None:
    web.clock.now = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    await web.call("POST", TRIGGERS, json=nightly())
    before = web.log()
    bad = await web.call(
        "POST",
        NIGHTLY + "/skip",
        json={"instants": ["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-26T01:30:00Z"]},
    )
    assert bad.status_code == 422
    assert [(e["field"], e["message"]) for e in bad.json()["errors"]] == [
        ("instants.1", "2026-03-29T01:30:00Z is not a fire time of the schedule"),
        ("instants.2", "2026-03-26T01:30:00Z is not in the future"),
    ]
    for body in ({"next": 0}, {"next": 101}, {}, {"next": 1, "instants": ["2026-03-28T01:30:00Z"]}):
        refused = await web.call("POST", NIGHTLY + "/skip", json=body)
        assert refused.status_code == 422, body
    not_skipped = await web.call(
        "POST", NIGHTLY + "/unskip", json={"instants": ["2026-03-28T01:30:00Z"]}
    )
    assert [(e["field"], e["message"]) for e in not_skipped.json()["errors"]] == [
        ("instants.0", "2026-03-28T01:30:00Z is not skipped")
    ]
    assert web.log() == before


async def test_jitter_is_deterministic_within_bounds_and_below_the_gap(web: Api) -> None:
    hourly = nightly(cron_expression="0 * * * *", cron_timezone="UTC", jitter_seconds=120)
    created = await web.call("POST", TRIGGERS, json=hourly)
    assert created.status_code == 201, created.text
    first = await web.call("GET", NIGHTLY + "/upcoming", params={"count": "5"})
    second = await web.call("GET", NIGHTLY + "/upcoming", params={"count": "5"})
    assert first.json() == second.json()
    key = jitter_key("acme", "web", "nightly")
    for entry in first.json()["instants"]:
        instant = datetime.fromisoformat(entry["utc"])
        offset = jitter_offset(key, instant, 120)
        assert 0 <= offset < 120
        expected = datetime.fromtimestamp(instant.timestamp() + offset, UTC)
        assert entry["fire_at"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")

    too_much = await web.call(
        "POST", TRIGGERS, json=nightly(id="five", cron_expression="*/5 * * * *", jitter_seconds=300)
    )
    assert too_much.status_code == 422
    assert [(e["field"], e["message"]) for e in too_much.json()["errors"]] == [
        (
            "jitter_seconds",
            "must be less than the schedule's shortest gap between fires (300 s)",
        )
    ]
    over = await web.call("POST", TRIGGERS, json=nightly(id="over", jitter_seconds=3601))
    assert [e["field"] for e in over.json()["errors"]] == ["jitter_seconds"]


async def test_a_window_ending_mid_day_bounds_the_occurrences(web: Api) -> None:
    body = nightly(
        cron_expression="0 * * * *",
        cron_timezone="UTC",
        start_at="2026-03-03T09:00:00Z",
        end_at="2026-03-03T12:30:00+00:00",
    )
    created = await web.call("POST", TRIGGERS, json=body)
    assert created.status_code == 201, created.text
    assert (
        created.json()["start_at"],
        created.json()["end_at"],
        created.json()["next_run_at"],
    ) == (
        "2026-03-03T09:00:00Z",
        "2026-03-03T12:30:00Z",
        "2026-03-03T09:00:00Z",
    )
    upcoming = await web.call("GET", NIGHTLY + "/upcoming", params={"count": "10"})
    assert [i["utc"] for i in upcoming.json()["instants"]] == [
        "2026-03-03T09:00:00Z",
        "2026-03-03T10:00:00Z",
        "2026-03-03T11:00:00Z",
        "2026-03-03T12:00:00Z",
    ]
    backwards = await web.call("PATCH", NIGHTLY, json={"start_at": "2026-03-04T00:00:00Z"})
    assert (backwards.status_code, [e["field"] for e in backwards.json()["errors"]]) == (
        422,
        ["end_at"],
    )
    outside = await web.call(
        "POST",
        TRIGGERS,
        json=nightly(id="once", cron_expression=None, run_at="2026-03-05T00:00:00Z",
                     end_at="2026-03-04T00:00:00Z"),
    )  # fmt: skip
    assert [e["field"] for e in outside.json()["errors"]] == ["run_at"]
    zero = await web.call("POST", TRIGGERS, json=nightly(id="zero", max_runs=0))
    assert [e["field"] for e in zero.json()["errors"]] == ["max_runs"]


async def test_a_completed_trigger_says_why_and_refuses_enable_with_what_to_change(
    web: Api,
) -> None:
    await web.call("POST", TRIGGERS, json=nightly(max_runs=2))
    record_dispatch(web.ctx.session_factory, "nightly", next_run_at=None,
                    last_scheduled_for="2026-03-04T01:30:00Z", run_count=2,
                    completed_reason="max_runs (2) reached")  # fmt: skip
    got = (await web.call("GET", NIGHTLY)).json()
    assert (got["status"], got["completed_reason"], got["enabled"]) == (
        "completed",
        "max_runs (2) reached",
        True,
    )
    refused = await web.call("POST", NIGHTLY + "/enable")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "Trigger nightly is completed (max_runs (2) reached): nothing is left to fire."
        " To run it again, PATCH a higher max_runs (or null)."
    )
    raised = await web.call("PATCH", NIGHTLY, json={"max_runs": 5})
    assert (raised.json()["status"], raised.json()["next_run_at"]) == (
        "active",
        "2026-03-03T01:30:00Z",
    )


async def test_schedule_preview_describes_and_lists_without_writing(web: Api) -> None:
    before = web.log()
    every5 = await web.call("POST", PREVIEW, json={"cron_expression": "*/5 * * * *", "count": 3})
    assert every5.status_code == 200, every5.text
    assert every5.json() == {
        "schedule_description": "Every 5 minutes",
        "timezone": "UTC",
        "instants": [
            {"utc": f"2026-03-02T12:{m}:00Z", "local": f"2026-03-02T12:{m}:00+00:00",
             "skipped": False, "fire_at": f"2026-03-02T12:{m}:00Z"}
            for m in ("05", "10", "15")
        ],
    }  # fmt: skip
    bad = await web.call("POST", PREVIEW, json={"cron_expression": "61 * * * *"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["cron_expression"]
    neither = await web.call("POST", PREVIEW, json={"cron_timezone": "UTC"})
    assert [e["field"] for e in neither.json()["errors"]] == ["cron_expression", "run_at"]
    daily = await web.call(
        "POST", PREVIEW, json={"cron_expression": "@daily", "cron_timezone": "Europe/Paris",
                               "count": 2},
    )  # fmt: skip
    assert [i["utc"] for i in daily.json()["instants"]] == [
        "2026-03-02T23:00:00Z",
        "2026-03-03T23:00:00Z",
    ]
    assert web.log() == before
