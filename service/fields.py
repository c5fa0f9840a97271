"""The field types of what a user defines, each with its bounds and checks, stated once.

Bounds live in `Field` descriptions as well as constraints, so a published schema says what is
enforced. Text a person reads (names, descriptions, notes) refuses control characters and
bidirectional overrides, which could hide or reorder what another user sees.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, Field
from pydantic_core import PydanticCustomError

from manage_db.ids import ID_PATTERN
from manage_db.next_run import InvalidSchedule, validate_cron, validate_timezone
from runner.templates import KNOWN_VARIABLES, TemplateError, validate_template

PAYLOAD_MAX_BYTES = 64 * 1024
TEMPLATE_MAX_BYTES = 16 * 1024
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_BIDI = "\u202a-\u202e\u2066-\u2069"
_LINE_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_TEXT_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_EARLIEST_YEAR, _LATEST_YEAR = 1970, 9000


def _bad(kind: str, reason: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "{reason}", {"reason": reason})


def _check_line(value: str) -> str:
    if _LINE_UNSAFE.search(value):
        raise _bad("text", "must not contain control or bidirectional override characters")
    return value


def _check_text(value: str) -> str:
    if _TEXT_UNSAFE.search(value):
        raise _bad(
            "text",
            "must not contain control characters (other than newline and tab) or "
            "bidirectional override characters",
        )
    return value


def _check_cron(value: str) -> str:
    try:
        validate_cron(value)
    except InvalidSchedule as exc:
        raise _bad("cron", exc.message) from None
    return value


def _check_timezone(value: str) -> str:
    try:
        validate_timezone(value)
    except InvalidSchedule as exc:
        raise _bad("timezone", exc.message) from None
    return value


def _check_template(value: str) -> str:
    if not value.strip():
        raise _bad("template", "must not be empty")
    if len(value.encode()) > TEMPLATE_MAX_BYTES:
        raise _bad("template", f"must be at most {TEMPLATE_MAX_BYTES} bytes")
    try:
        validate_template(value)
    except TemplateError as exc:
        raise _bad("template", exc.message) from None
    return value


def _check_payload(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > PAYLOAD_MAX_BYTES:
        raise _bad("payload", f"must be at most {PAYLOAD_MAX_BYTES} bytes as JSON, is {size}")
    return value


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad("url", "must be an absolute http:// or https:// URL")
    return value


def _check_env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise _bad("env_name", "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def check_instant(value: datetime) -> datetime:
    """Instants the schedule math and the stores can hold: UTC years 1970..9000."""
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not _EARLIEST_YEAR <= year <= _LATEST_YEAR:
        raise PydanticCustomError(
            "instant_range",
            "must be between {earliest}-01-01 and {latest}-12-31 (UTC)",
            {"earliest": _EARLIEST_YEAR, "latest": _LATEST_YEAR},
        )
    return value


Id = Annotated[str, Field(pattern=ID_PATTERN, description=f"Identifier matching {ID_PATTERN}.")]
Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="1..200 characters; no control or bidirectional override characters.",
    ),
    AfterValidator(_check_line),
]
Description = Annotated[
    str,
    Field(
        max_length=2000,
        description="Up to 2000 characters; newline and tab allowed, other control and "
        "bidirectional override characters are not.",
    ),
    AfterValidator(_check_text),
]
Note = Annotated[
    str,
    Field(
        max_length=500,
        description="Up to 500 characters; newline and tab allowed, other control and "
        "bidirectional override characters are not.",
    ),
    AfterValidator(_check_text),
]
Timestamp = Annotated[
    str, Field(json_schema_extra={"format": "date-time"}, description="UTC, YYYY-MM-DDTHH:MM:SSZ.")
]
Instant = Annotated[AwareDatetime, AfterValidator(check_instant)]
CronExpression = Annotated[
    str,
    AfterValidator(_check_cron),
    Field(
        max_length=200,
        description="Five cron fields (minute hour day-of-month month day-of-week), values in "
        "range; no seconds field. Exactly one of cron_expression and run_at is set.",
        examples=["0 9 * * 1-5"],
    ),
]
RunAt = Annotated[
    Instant,
    Field(
        description="One-time fire instant, ISO 8601 with an offset; must be in the future when "
        "set. Exactly one of cron_expression and run_at is set."
    ),
]
Timezone = Annotated[
    str,
    AfterValidator(_check_timezone),
    Field(max_length=64, description="IANA timezone the cron fields are read in."),
]
MessageTemplate = Annotated[
    str,
    AfterValidator(_check_template),
    Field(
        description=f"Message sent to the agent: non-empty, at most {TEMPLATE_MAX_BYTES} bytes; "
        f"variables {', '.join('{{' + v + '}}' for v in KNOWN_VARIABLES)}."
    ),
]
Payload = Annotated[
    dict[str, Any],
    AfterValidator(_check_payload),
    Field(description=f"JSON object, at most {PAYLOAD_MAX_BYTES} bytes serialized."),
]
MaxRetries = Annotated[
    int, Field(ge=0, le=20, description="Retries after a failed attempt, 0..20.")
]
RetryDelay = Annotated[
    int, Field(ge=1, le=86400, description="Base delay before a retry, 1..86400 seconds.")
]
TimeoutSeconds = Annotated[int, Field(ge=1, le=900, description="Per-attempt timeout, 1..900 s.")]
OverlapPolicy = Annotated[
    Literal["allow", "skip", "buffer_one", "cancel_running"],
    Field(
        description="While an earlier run of the trigger is still running: `allow` runs both,"
        " `skip` skips the new one, `buffer_one` lets one new run wait and start when the"
        " running one ends (any further one is skipped), `cancel_running` cancels the running"
        " one and starts the new one. Skipped runs are invocations with status `skipped`."
    ),
]
Catchup = Annotated[
    Literal["latest", "all"],
    Field(
        description="After downtime, of the occurrences within the misfire grace: `latest` fires"
        " only the latest (the others are recorded missed), `all` fires every one, in order."
    ),
]
JitterSeconds = Annotated[
    int,
    Field(
        ge=0,
        le=3600,
        description="Each occurrence starts up to this many seconds after its instant (an offset"
        " fixed per trigger and instant), 0..3600 and less than the shortest gap between fires.",
    ),
]
MaxRuns = Annotated[
    int,
    Field(
        ge=1,
        description="After this many scheduled occurrences have been dispatched, no more (the"
        " trigger completes); manual runs and backfills do not count.",
    ),
]
WindowStart = Annotated[
    Instant, Field(description="No occurrence before this instant (ISO 8601 with an offset).")
]
WindowEnd = Annotated[
    Instant,
    Field(description="No occurrence at or after this instant; must be after `start_at`."),
]
MisfireGrace = Annotated[
    int,
    Field(
        ge=60,
        le=604800,
        description="Missed runs older than this are skipped, 60..604800 seconds (ticks are "
        "minutely, so less than 60 would skip on-time runs).",
    ),
]
Url = Annotated[
    str,
    AfterValidator(_check_url),
    Field(max_length=2048, description="Absolute http(s) URL the agent is reached at."),
]
EnvName = Annotated[
    str,
    AfterValidator(_check_env_name),
    Field(
        description="Name of an environment variable of the worker holding the Authorization "
        "header value; the secret never enters the store."
    ),
]
