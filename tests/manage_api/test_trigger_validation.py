"""Bad trigger input answers 4xx naming each bad field, and writes nothing."""

from __future__ import annotations

from typing import Any

from tests.manage_api.conftest import TRIGGERS, Api, nightly

NIGHTLY = TRIGGERS + "/nightly"
KNOWN = (
    "known: scheduled_for, scheduled_for_local, trigger.id, trigger.name, invocation.id, "
    "payload.<path>"
)
BOTH = "exactly one of cron_expression and run_at must be set; both are"
NEITHER = "exactly one of cron_expression and run_at must be set; neither is"

CASES: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    (
        {"cron_expression": "0 30 2 * * *"},
        [
            (
                "cron_expression",
                "'0 30 2 * * *' has 6 fields; expected 5: minute hour day-of-month month "
                "day-of-week (no seconds or year field)",
            )
        ],
    ),
    (
        {"cron_expression": "61 * * * *"},
        [("cron_expression", "minute field '61' is invalid (allowed 0-59)")],
    ),
    (
        {"cron_expression": "0 25 * * *"},
        [("cron_expression", "hour field '25' is invalid (allowed 0-23)")],
    ),
    ({"cron_expression": "0 0 31 2 *"}, [("cron_expression", "'0 0 31 2 *' never fires")]),
    (
        {"cron_timezone": "Mars/Olympus"},
        [("cron_timezone", "unknown IANA timezone 'Mars/Olympus'")],
    ),
    ({"cron_timezone": "localtime"}, [("cron_timezone", "unknown IANA timezone 'localtime'")]),
    ({"run_at": "2026-05-01T00:00:00Z"}, [("cron_expression", BOTH), ("run_at", BOTH)]),
    ({"cron_expression": None}, [("cron_expression", NEITHER), ("run_at", NEITHER)]),
    (
        {"cron_expression": None, "run_at": "2026-03-02T12:00:30Z"},
        [("run_at", "must be in the future")],
    ),
    (
        {"cron_expression": None, "run_at": "2026-05-01T00:00:00"},
        [("run_at", "Input should have timezone info")],
    ),
    (
        {"message_template": "{{nope}} {{payload.a}} {{x.y}}"},
        [("message_template", f"unknown template variable(s): {{{{nope}}}}, {{{{x.y}}}}; {KNOWN}")],
    ),
    (
        {"cron_expression": None, "run_at": "9999-12-31T23:00:00-05:00"},
        [("run_at", "must be between 1970-01-01 and 9000-12-31 (UTC)")],
    ),
    (
        {"cron_expression": None, "run_at": "0001-01-01T00:00:00+01:00"},
        [("run_at", "must be between 1970-01-01 and 9000-12-31 (UTC)")],
    ),
    ({"message_template": "  "}, [("message_template", "must not be empty")]),
    (
        {"message_template": "Team {{payload.team}}, {{payload.a.b}}", "payload": {"a": {}}},
        [("message_template", "payload has no value at {{payload.team}}, {{payload.a.b}}")],
    ),
    ({"message_template": "x" * 16385}, [("message_template", "must be at most 16384 bytes")]),
    ({"payload": [1]}, [("payload", "Input should be an object")]),
    (
        {"payload": {"a": "x" * 65530}},
        [("payload", "must be at most 65536 bytes as JSON, is 65538")],
    ),
    ({"max_retries": 21}, [("max_retries", "Input should be less than or equal to 20")]),
    ({"max_retries": -1}, [("max_retries", "Input should be greater than or equal to 0")]),
    ({"max_retries": "3"}, [("max_retries", "Input should be a valid integer")]),
    (
        {"retry_delay_seconds": 0},
        [("retry_delay_seconds", "Input should be greater than or equal to 1")],
    ),
    (
        {"retry_delay_seconds": 86401},
        [("retry_delay_seconds", "Input should be less than or equal to 86400")],
    ),
    ({"timeout_seconds": 0}, [("timeout_seconds", "Input should be greater than or equal to 1")]),
    ({"timeout_seconds": 901}, [("timeout_seconds", "Input should be less than or equal to 900")]),
    (
        {"misfire_grace_seconds": 59},
        [("misfire_grace_seconds", "Input should be greater than or equal to 60")],
    ),
    (
        {"misfire_grace_seconds": 604801},
        [("misfire_grace_seconds", "Input should be less than or equal to 604800")],
    ),
    (
        {"overlap_policy": "queue"},
        [
            (
                "overlap_policy",
                "Input should be 'allow', 'skip', 'buffer_one' or 'cancel_running'",
            )
        ],
    ),
    ({"enabled": "true"}, [("enabled", "Input should be a valid boolean")]),
    ({"name": ""}, [("name", "String should have at least 1 character")]),
    ({"id": "Bad_ID"}, [("id", "String should match pattern '^[a-z0-9][a-z0-9-]{0,62}$'")]),
    ({"colour": "red"}, [("colour", "Extra inputs are not permitted")]),
    (
        {"next_run_at": "2026-03-03T00:00:00Z", "version": 9},
        [
            ("next_run_at", "is server-managed and cannot be set"),
            ("version", "is server-managed and cannot be set"),
        ],
    ),
    (
        {"max_retries": 99, "cron_timezone": "Nowhere", "last_scheduled_for": None},
        [
            ("last_scheduled_for", "is server-managed and cannot be set"),
            ("cron_timezone", "unknown IANA timezone 'Nowhere'"),
            ("max_retries", "Input should be less than or equal to 20"),
        ],
    ),
]


def _errors(response: Any) -> list[tuple[str, str]]:
    assert response.headers["content-type"] == "application/problem+json"
    return [(e["field"], e["message"]) for e in response.json()["errors"]]


async def test_create_names_each_bad_field(web: Api) -> None:
    """One project for all cases (each case is one request), to keep the suite quick."""
    before = web.log()
    for overrides, errors in CASES:
        response = await web.call("POST", TRIGGERS, json=nightly(**overrides))
        assert response.status_code == 422, overrides
        assert response.json()["title"] == "Unprocessable Content"
        assert sorted(_errors(response)) == sorted(errors), overrides
    assert web.log() == before
    assert (await web.call("GET", TRIGGERS)).json() == {"items": [], "next_cursor": None}


async def test_malformed_json_is_400(web: Api) -> None:
    deeply_nested = b"[" * 100_000 + b"]" * 100_000
    for content in (b'{"name": ', b"[1, 2]", b"\xff", deeply_nested, b'{"payload": NaN}'):
        response = await web.call(
            "POST", TRIGGERS, content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"


async def test_an_empty_patch_is_400(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    response = await web.call("PATCH", NIGHTLY, json={})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "An empty PATCH changes nothing; send the fields to change."
    )


async def test_patch_refuses_null_for_fields_that_cannot_be_cleared(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    response = await web.call(
        "PATCH", NIGHTLY, json={"name": None, "cron_timezone": None, "max_retries": None}
    )
    assert response.status_code == 422
    message = "may not be null; omit the field to leave it unchanged"
    assert sorted(_errors(response)) == [
        ("cron_timezone", message),
        ("max_retries", message),
        ("name", message),
    ]


async def test_patch_checks_exclusivity_on_the_merged_trigger(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    before = web.log()
    both = await web.call("PATCH", NIGHTLY, json={"run_at": "2026-04-01T00:00:00Z"})
    assert both.status_code == 422
    assert _errors(both) == [("cron_expression", BOTH), ("run_at", BOTH)]
    neither = await web.call("PATCH", NIGHTLY, json={"cron_expression": None})
    assert _errors(neither) == [("cron_expression", NEITHER), ("run_at", NEITHER)]
    assert web.log() == before


async def test_patch_refuses_a_past_run_at_and_server_managed_fields(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    past = await web.call(
        "PATCH", NIGHTLY, json={"cron_expression": None, "run_at": "2026-03-01T00:00:00Z"}
    )
    assert past.status_code == 422
    assert _errors(past) == [("run_at", "must be in the future")]
    managed = await web.call("PATCH", NIGHTLY, json={"version": 5, "updated_at": "x"})
    assert sorted(_errors(managed)) == [
        ("updated_at", "is server-managed and cannot be set"),
        ("version", "is server-managed and cannot be set"),
    ]


async def test_malformed_path_ids_are_named(web: Api) -> None:
    response = await web.call("GET", TRIGGERS + "/Not_An_Id")
    assert response.status_code == 422
    assert _errors(response) == [("trigger_id", "trigger_id must match ^[a-z0-9][a-z0-9-]{0,62}$")]


async def test_bad_idempotency_key_is_named(web: Api) -> None:
    response = await web.call(
        "POST", TRIGGERS, json=nightly(), headers={"Idempotency-Key": "x" * 201}
    )
    assert response.status_code == 422
    assert _errors(response) == [("Idempotency-Key", "must be 1..200 visible ASCII characters")]


async def test_catchup_is_latest_by_default_all_on_request_and_nothing_else(web: Api) -> None:
    default = await web.call("POST", TRIGGERS, json=nightly())
    every = await web.call("POST", TRIGGERS, json=nightly(id="every", catchup="all"))
    other = await web.call("POST", TRIGGERS, json=nightly(id="other", catchup="some"))

    assert (default.status_code, default.json()["catchup"]) == (201, "latest")
    assert (every.status_code, every.json()["catchup"]) == (201, "all")
    assert other.status_code == 422
    assert [e["field"] for e in other.json()["errors"]] == ["catchup"]
