"""What a user sends: the definitions of projects, agents and triggers, and list queries.

A trigger's user fields are listed once, in `TriggerFields`; the create, bulk and PATCH models
and the response derive from it. Request models forbid unknown fields and are validated
strictly from JSON (no "3" for 3), so one error names every bad field. Checks that need the
whole merged trigger or the clock run in `service.trigger_rules`.
"""

from __future__ import annotations

from copy import copy
from types import NoneType
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from runtime_db.invocations import OPEN_STATUSES, TERMINAL_STATUSES
from service.fields import (
    Catchup,
    CronExpression,
    Description,
    EnvName,
    Id,
    Instant,
    JitterSeconds,
    MaxRetries,
    MaxRuns,
    MessageTemplate,
    MisfireGrace,
    Name,
    Note,
    OverlapPolicy,
    Payload,
    RetryDelay,
    RunAt,
    TimeoutSeconds,
    Timezone,
    Url,
    WindowEnd,
    WindowStart,
)

MAX_PAGE = 1000


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProjectCreate(Request):
    id: Id
    name: Name
    description: Description | None = None


AlertEventName = Literal[
    "invocation.failed", "invocation.missed", "trigger.disabled", "scheduler.stalled"
]


class AlertHookPut(Request):
    url: Url
    events: list[AlertEventName] = Field(
        min_length=1,
        max_length=4,
        description="`invocation.failed`: a final failure; `invocation.missed`: an occurrence not "
        "fired (beyond the misfire grace, coalesced, or skipped by the overlap policy); "
        "`trigger.disabled`: the system stopped a trigger whose stored definition cannot fire; "
        "`scheduler.stalled`: no tick for 3 tick periods.",
    )
    secret_env: EnvName | None = Field(
        None,
        description="Name of an environment variable of the worker holding the HMAC secret; "
        "alerts then carry `X-Timekeeper-Signature: sha256=<hex>`.",
    )

    @field_validator("events")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise PydanticCustomError("duplicate", "each event may be listed once")
        return value


class DisableBody(Request):
    note: Note | None = Field(None, description="Why the trigger is paused; shown with it.")


class AgentEndpoint(Request):
    url: Url
    protocol: Literal["webhook", "a2a"] = Field(
        description="`webhook`: POST JSON; `a2a`: JSON-RPC 2.0 message/send.",
    )
    auth_header_env: EnvName | None = None


class AgentPut(Request):
    name: Name
    endpoint: AgentEndpoint


class TriggerFields(Request):
    """Every field a user defines on a trigger; omitted fields take the defaults shown."""

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
    catchup: Catchup = "latest"
    jitter_seconds: JitterSeconds = 0
    start_at: WindowStart | None = None
    end_at: WindowEnd | None = None
    max_runs: MaxRuns | None = None


class TriggerCreate(TriggerFields):
    """A new trigger; omitted fields take the defaults shown."""

    id: Id | None = Field(
        default=None,
        description="Client-chosen id: repeating a create with it is safe (200 if identical, "
        "409 if not). Generated when omitted.",
    )


class BulkTrigger(TriggerCreate):
    """One trigger of a bulk upsert: the full definition, created or replaced by id."""

    id: Id
    agent_id: Id


class BulkTriggers(Request):
    triggers: list[BulkTrigger] = Field(max_length=1000, description="At most 1000 triggers.")


def _nullable(info: FieldInfo) -> bool:
    return NoneType in get_args(info.annotation)


def _optional(info: FieldInfo) -> tuple[Any, FieldInfo]:
    """The same field, optional and without a default: PATCH sends only what changes."""
    annotated = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    optional = copy(info)
    optional.metadata = []
    optional.default = None
    optional.default_factory = None
    return Union[annotated, None], optional  # noqa: UP007 (built at run time)


_NOT_NULLABLE = tuple(name for name, i in TriggerFields.model_fields.items() if not _nullable(i))


class _PatchBase(Request):
    """Only the fields sent change; `null` clears a field that may be empty, and only those."""

    @field_validator(*_NOT_NULLABLE, mode="before", check_fields=False)
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError(
                "not_null", "may not be null; omit the field to leave it unchanged"
            )
        return value


_PATCH_FIELDS: dict[str, Any] = {
    name: _optional(info) for name, info in TriggerFields.model_fields.items()
}
TriggerPatch = create_model("TriggerPatch", __base__=_PatchBase, **_PATCH_FIELDS)
TriggerPatch.__doc__ = _PatchBase.__doc__


class RevertRequest(Request):
    commit: str = Field(
        pattern=r"^[0-9a-f]{40}$", description="A commit from the trigger's history."
    )


class _Query(BaseModel):
    """Query parameters arrive as text: validated leniently ("3" is 3), unknown ones refused."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(_Query):
    limit: int = Field(default=50, ge=1, le=MAX_PAGE, description=f"Page size, 1..{MAX_PAGE}.")
    cursor: str | None = Field(
        default=None,
        max_length=200,
        description="`next_cursor` of the previous page; omit for the first page.",
    )


class DeliveryQuery(_Query):
    limit: int = Field(default=50, ge=1, le=200, description="How many, newest first; 1..200.")


INVOCATION_STATUSES = OPEN_STATUSES + TERMINAL_STATUSES


class InvocationQuery(PageQuery):
    status: Annotated[str, Field(json_schema_extra={"enum": list(INVOCATION_STATUSES)})] | None = (
        Field(default=None, description="Only invocations with this status.")
    )

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str | None) -> str | None:
        if value is not None and value not in INVOCATION_STATUSES:
            raise PydanticCustomError(
                "status", "must be one of {statuses}", {"statuses": ", ".join(INVOCATION_STATUSES)}
            )
        return value


class UpcomingQuery(_Query):
    count: int = Field(default=10, ge=1, le=1000, description="How many instants, 1..1000.")
    after: Instant | None = Field(default=None, description="ISO 8601 with an offset; default now.")


class SkipBody(Request):
    """Exactly one of `instants` and `next`."""

    instants: list[Instant] | None = Field(
        None, min_length=1, max_length=100, description="Future fire instants not to fire."
    )
    next: int | None = Field(None, ge=1, le=100, description="Skip the next N occurrences.")

    @model_validator(mode="after")
    def _one_of(self) -> SkipBody:
        if (self.instants is None) == (self.next is None):
            raise PydanticCustomError("one_of", "send exactly one of instants and next")
        return self


class UnskipBody(Request):
    instants: list[Instant] = Field(min_length=1, max_length=100)


MAX_BACKFILL = 1000


class BackfillBody(Request):
    start: Instant = Field(description="The first instant considered (inclusive).")
    end: Instant = Field(description="The end (exclusive); not after now.")


class SchedulePreview(Request):
    """A schedule to preview before saving: the same fields and checks as a trigger's."""

    cron_expression: CronExpression | None = None
    run_at: Instant | None = None
    cron_timezone: Timezone = "UTC"
    start_at: WindowStart | None = None
    end_at: WindowEnd | None = None
    jitter_seconds: JitterSeconds = 0
    count: int = Field(10, ge=1, le=100, description="How many instants, 1..100.")
    trigger_id: Id | None = Field(
        None, description="The id the trigger will have: jitter offsets are keyed on it."
    )
