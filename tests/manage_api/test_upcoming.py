"""`upcoming` previews the schedule with the dispatcher's function: exact instants, DST rules,
disabled triggers included; bad parameters are named."""

from __future__ import annotations

from tests.manage_api.conftest import TRIGGERS, Api, nightly

NOT_INT = "Input should be a valid integer"
NOT_DATETIME = "Input should be a valid datetime or date"
UPCOMING = TRIGGERS + "/nightly/upcoming"


def _at(
    utc: str, local: str, skipped: bool = False, fire_at: str | None = None
) -> dict[str, object]:
    return {"utc": utc, "local": local, "skipped": skipped, "fire_at": fire_at or utc}


async def test_upcoming_across_spring_forward(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    response = await web.call(
        "GET", UPCOMING, params={"count": "3", "after": "2026-03-27T13:00:00+01:00"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "trigger_id": "nightly",
        "timezone": "Europe/Berlin",
        "instants": [
            _at("2026-03-28T01:30:00Z", "2026-03-28T02:30:00+01:00"),
            # 02:30 does not exist on 2026-03-29: fires at the first instant after the gap.
            _at("2026-03-29T01:00:00Z", "2026-03-29T03:00:00+02:00"),
            _at("2026-03-30T00:30:00Z", "2026-03-30T02:30:00+02:00"),
        ],
    }


async def test_upcoming_defaults_to_ten_from_now_and_answers_for_disabled(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly(enabled=False))
    response = await web.call("GET", UPCOMING)
    assert response.status_code == 200
    assert [i["utc"] for i in response.json()["instants"]] == [
        f"2026-03-{day:02d}T01:30:00Z" for day in range(3, 13)
    ]


async def test_upcoming_allows_a_thousand(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly(cron_expression="* * * * *", cron_timezone="UTC"))
    instants = (await web.call("GET", UPCOMING, params={"count": "1000"})).json()["instants"]
    assert len(instants) == 1000
    assert (instants[0]["utc"], instants[-1]["utc"]) == (
        "2026-03-02T12:01:00Z",
        "2026-03-03T04:40:00Z",
    )


async def test_upcoming_of_a_one_time_trigger(web: Api) -> None:
    body = nightly(cron_expression=None, run_at="2026-03-05T10:00:00Z", cron_timezone="Asia/Tokyo")
    await web.call("POST", TRIGGERS, json=body)
    before = await web.call("GET", UPCOMING)
    assert before.json()["instants"] == [_at("2026-03-05T10:00:00Z", "2026-03-05T19:00:00+09:00")]
    after = await web.call("GET", UPCOMING, params={"after": "2026-03-05T10:00:00Z"})
    assert after.json()["instants"] == []


RANGE = "must be between 1970-01-01 and 9000-12-31 (UTC)"


async def test_bad_parameters_are_named(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    cases = [
        ({"count": "0"}, "count", "Input should be greater than or equal to 1"),
        ({"count": "1001"}, "count", "Input should be less than or equal to 1000"),
        ({"count": "ten"}, "count", f"{NOT_INT}, unable to parse string as an integer"),
        ({"after": "yesterday"}, "after", f"{NOT_DATETIME}, input is too short"),
        ({"after": "2026-03-01T00:00:00"}, "after", "Input should have timezone info"),
        ({"after": "9999-12-31T23:59:59Z"}, "after", RANGE),
        ({"after": "0001-01-01T00:00:00Z"}, "after", RANGE),
        ({"limit": "5"}, "limit", "Extra inputs are not permitted"),
    ]  # fmt: skip
    for params, field, message in cases:
        response = await web.call("GET", UPCOMING, params=params)
        assert response.status_code == 422, params
        assert response.json()["errors"] == [{"field": field, "message": message}]
    assert (await web.call("GET", TRIGGERS + "/ghost/upcoming")).status_code == 404
