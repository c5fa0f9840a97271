"""Request and response bodies of the manage API; their JSON schemas are the OpenAPI components.

Bounds live in `Field` descriptions as well as constraints, so the published schema says what
the server enforces. Request models forbid unknown fields and are validated strictly from JSON
(no "3" for 3). Cron, timezone, template and payload checks run here, so one 422 names every
bad field; checks that need the merged trigger or the clock (exactly one of `cron_expression`
and `run_at`, `run_at` in the future) run in `manage_api.trigger_rows`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from manage_db.ids import ID_PATTERN
from manage_db.next_run import InvalidSchedule, validate_cron, validate_timezone
from runner.templates import KNOWN_VARIABLES, TemplateError, validate_template

PAYLOAD_MAX_BYTES = 64 * 1024
TEMPLATE_MAX_BYTES = 16 * 1024
SERVER_MANAGED = (
    "agent_id",
    "next_run_at",
    "last_scheduled_for",
    "version",
    "created_at",
    "updated_at",
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _bad(kind: str, reason: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "{reason}", {"reason": reason})


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


Id = Annotated[str, Field(pattern=ID_PATTERN, description=f"Identifier matching {ID_PATTERN}.")]
Name = Annotated[str, Field(min_length=1, max_length=200, description="1..200 characters.")]
Description = Annotated[str, Field(max_length=2000, description="Up to 2000 characters.")]
Timestamp = Annotated[
    str, Field(json_schema_extra={"format": "date-time"}, description="UTC, YYYY-MM-DDTHH:MM:SSZ.")
]
_EARLIEST_YEAR, _LATEST_YEAR = 1970, 9000


def _check_instant(value: datetime) -> datetime:
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
    AwareDatetime,
    AfterValidator(_check_instant),
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
    Literal["allow", "skip"],
    Field(description="`skip` skips a run while an earlier run of the trigger is still running."),
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


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProjectCreate(_Request):
    id: Id
    name: Name
    description: Description | None = None


class Project(BaseModel):
    id: Id
    tenant_id: Id
    name: str
    description: str | None
    created_at: Timestamp
    updated_at: Timestamp


class ProjectList(BaseModel):
    items: list[Project]


class AgentEndpoint(_Request):
    url: Annotated[
        str,
        AfterValidator(_check_url),
        Field(max_length=2048, description="Absolute http(s) URL the agent is reached at."),
    ]
    protocol: Literal["webhook", "a2a"] = Field(
        description="`webhook`: POST JSON; `a2a`: JSON-RPC 2.0 message/send."
    )
    auth_header_env: (
        Annotated[
            str,
            AfterValidator(_check_env_name),
            Field(
                description="Name of an environment variable of the worker holding the "
                "Authorization header value; the secret never enters the store."
            ),
        ]
        | None
    ) = None


class AgentPut(_Request):
    name: Name
    endpoint: AgentEndpoint


class Agent(BaseModel):
    id: Id
    name: str
    endpoint: AgentEndpoint
    created_at: Timestamp
    updated_at: Timestamp


class AgentList(BaseModel):
    items: list[Agent]


class TriggerCreate(_Request):
    """A new trigger; omitted fields take the defaults shown."""

    id: Id | None = Field(
        default=None,
        description="Client-chosen id: repeating a create with it is safe (200 if identical, "
        "409 if not). Generated when omitted.",
    )
    name: Name
    description: Description | None = None
    enabled: bool = True
    cron_expression: CronExpression | None = None
    run_at: RunAt | None = None
    cron_timezone: Timezone = "UTC"
    message_template: MessageTemplate
    payload: Payload = Field(default_factory=dict)
    max_retries: MaxRetries = 3
    retry_delay_seconds: RetryDelay = 30
    timeout_seconds: TimeoutSeconds = 30
    overlap_policy: OverlapPolicy = "allow"
    misfire_grace_seconds: MisfireGrace = 300


_NOT_NULLABLE = (
    "name",
    "enabled",
    "cron_timezone",
    "message_template",
    "payload",
    "max_retries",
    "retry_delay_seconds",
    "timeout_seconds",
    "overlap_policy",
    "misfire_grace_seconds",
)


class TriggerPatch(_Request):
    """Only the fields sent change; `null` clears description, cron_expression or run_at only."""

    name: Name | None = None
    description: Description | None = None
    enabled: bool | None = None
    cron_expression: CronExpression | None = None
    run_at: RunAt | None = None
    cron_timezone: Timezone | None = None
    message_template: MessageTemplate | None = None
    payload: Payload | None = None
    max_retries: MaxRetries | None = None
    retry_delay_seconds: RetryDelay | None = None
    timeout_seconds: TimeoutSeconds | None = None
    overlap_policy: OverlapPolicy | None = None
    misfire_grace_seconds: MisfireGrace | None = None

    @field_validator(*_NOT_NULLABLE, mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise _bad("not_null", "may not be null; omit the field to leave it unchanged")
        return value


class BulkTrigger(TriggerCreate):
    """One trigger of a bulk upsert: the full definition, created or replaced by id."""

    id: Id
    agent_id: Id


class BulkTriggers(_Request):
    triggers: list[BulkTrigger] = Field(max_length=1000, description="At most 1000 triggers.")


class Trigger(BaseModel):
    id: Id
    agent_id: Id
    name: str
    description: str | None
    enabled: bool
    cron_expression: str | None
    run_at: Timestamp | None
    cron_timezone: str
    message_template: str
    payload: dict[str, Any]
    max_retries: int
    retry_delay_seconds: int
    timeout_seconds: int
    overlap_policy: Literal["allow", "skip"]
    misfire_grace_seconds: int
    next_run_at: Timestamp | None = Field(description="Server-managed: the next due instant.")
    last_scheduled_for: Timestamp | None = Field(
        description="Server-managed: the last instant the scheduler dispatched. Whether that "
        "run delivered, failed or was skipped (e.g. by overlap_policy) is on its invocation."
    )
    version: int = Field(description="Server-managed: +1 on every change; the ETag.")
    created_at: Timestamp
    updated_at: Timestamp


class TriggerList(BaseModel):
    items: list[Trigger]


class BulkResult(BaseModel):
    created: list[Id]
    updated: list[Id]
    unchanged: list[Id]
    items: list[Trigger] = Field(description="Every trigger of the request, in request order.")


class RevertRequest(_Request):
    commit: str = Field(
        pattern=r"^[0-9a-f]{40}$", description="A commit from the trigger's history."
    )


class HistoryEntry(BaseModel):
    commit: str
    author: str
    time: Timestamp
    message: str
    trigger: Trigger = Field(description="The trigger as it stood after this commit.")


class TriggerHistory(BaseModel):
    trigger_id: Id
    items: list[HistoryEntry] = Field(description="Newest first.")


class UpcomingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=10, ge=1, le=1000, description="How many instants, 1..1000.")
    after: Annotated[AwareDatetime, AfterValidator(_check_instant)] | None = Field(
        default=None, description="ISO 8601 with an offset; default now."
    )


class UpcomingInstant(BaseModel):
    utc: Timestamp
    local: str = Field(description="The same instant in the trigger's timezone, with offset.")


class Upcoming(BaseModel):
    trigger_id: Id
    timezone: str
    instants: list[UpcomingInstant]


class FieldError(BaseModel):
    field: str
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem document (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
