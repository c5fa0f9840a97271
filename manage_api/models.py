"""Response bodies of the manage API; their JSON schemas are the OpenAPI components.

Request bodies are the service layer's definitions (`service.inputs`); a trigger's response
derives from the same `TriggerFields`, so a new field is written once.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.fields import Id, Timestamp
from service.inputs import AgentEndpoint, AlertEventName, TriggerCreate, TriggerFields

_NEXT_CURSOR = Field(
    description="Pass as `cursor` for the next page; null on the last page.",
)


class Project(BaseModel):
    id: Id
    tenant_id: Id
    name: str
    description: str | None
    created_at: Timestamp
    updated_at: Timestamp


class ProjectList(BaseModel):
    items: list[Project]


class Agent(BaseModel):
    id: Id
    name: str
    endpoint: AgentEndpoint
    created_at: Timestamp
    updated_at: Timestamp


class AgentList(BaseModel):
    items: list[Agent]


class Pause(BaseModel):
    note: str | None = Field(description="Why, as given to `disable` (null without a note).")
    by: str = Field(description="The principal that disabled the trigger.")
    at: Timestamp


class Trigger(TriggerFields):
    """A trigger as stored: every user field, and what the server manages."""

    model_config = ConfigDict(extra="ignore", strict=False)

    id: Id
    agent_id: Id
    # Answers carry run_at as the stored UTC text, where requests take any aware instant.
    run_at: Timestamp | None = Field(  # type: ignore[assignment]
        description="One-time fire instant (UTC), or null."
    )
    start_at: Timestamp | None = Field(  # type: ignore[assignment]
        description="No occurrence before this instant (UTC), or null."
    )
    end_at: Timestamp | None = Field(  # type: ignore[assignment]
        description="No occurrence at or after this instant (UTC), or null."
    )
    skipped: list[Timestamp] = Field(
        default_factory=list,
        description="Server-managed: future instants marked not to fire (`skip`/`unskip`).",
    )
    next_run_at: Timestamp | None = Field(description="Server-managed: the next due instant.")
    last_scheduled_for: Timestamp | None = Field(
        description="Server-managed: the last instant the scheduler dispatched. Whether that "
        "run delivered, failed or was skipped (e.g. by overlap_policy) is on its invocation."
    )
    version: int = Field(description="Server-managed: +1 on every change; the ETag.")
    created_at: Timestamp
    updated_at: Timestamp
    schedule_description: str = Field(
        description="The schedule in plain English, in its timezone: `At 09:00, Monday through"
        " Friday (Europe/Berlin)`, `Every 5 minutes`, `Once, at 2027-01-01 09:00 (Europe/Paris)`."
    )
    status: Literal["active", "paused", "completed"] = Field(
        description="`paused`: disabled by a user (see `pause`); `completed`: nothing is left to"
        " fire (a one-time trigger that fired; see `completed_reason`); else `active`."
    )
    completed_reason: str | None = None
    pause: Pause | None = Field(
        None, description="While paused: why, by whom and when; null when enabled."
    )


# What a client may not set on a trigger: what an answer shows beyond what a create takes.
SERVER_MANAGED = tuple(
    name for name in Trigger.model_fields if name not in TriggerCreate.model_fields
)


class TriggerPage(BaseModel):
    items: list[Trigger]
    next_cursor: str | None = _NEXT_CURSOR


class BulkResult(BaseModel):
    created: list[Id]
    updated: list[Id]
    unchanged: list[Id]
    items: list[Trigger] = Field(description="Every trigger of the request, in request order.")


class HistoryEntry(BaseModel):
    commit: str
    author: str
    time: Timestamp
    message: str
    trigger: Trigger = Field(description="The trigger as it stood after this commit.")


class TriggerHistory(BaseModel):
    trigger_id: Id
    items: list[HistoryEntry] = Field(description="Newest first.")
    next_cursor: str | None = _NEXT_CURSOR


class UpcomingInstant(BaseModel):
    utc: Timestamp
    local: str = Field(description="The same instant in the trigger's timezone, with offset.")
    skipped: bool = Field(False, description="Marked not to fire (`skip`); listed all the same.")
    fire_at: Timestamp = Field(description="When it starts: the instant plus the jitter.")


class Upcoming(BaseModel):
    trigger_id: Id
    timezone: str
    instants: list[UpcomingInstant]


class SchedulePreviewAnswer(BaseModel):
    schedule_description: str
    timezone: str
    instants: list[UpcomingInstant]


class BackfillAnswer(BaseModel):
    instants: list[Timestamp] = Field(description="Every fire instant of the range, in order.")
    started: int = Field(description="Runs started by this call (0 when all ran before).")


class Attempt(BaseModel):
    attempt_number: int
    status: str = Field(description="`succeeded` or `failed`.")
    http_status: int | None
    started_at: Timestamp
    duration_ms: int
    error_class: str | None
    error_message: str | None
    response_excerpt: str | None = Field(description="The agent's answer, truncated.")


class Invocation(BaseModel):
    id: str = Field(description="UUID; sent to the agent as `Idempotency-Key`.")
    tenant_id: Id
    project_id: Id
    agent_id: Id
    trigger_id: Id
    kind: Literal["scheduled", "manual", "rerun", "backfill"]
    scheduled_for: Timestamp
    fire_at: Timestamp | None = Field(
        None, description="When the run starts: `scheduled_for` plus the trigger's jitter."
    )
    workflow_id: str
    status: str = Field(
        description="pending, running, completed, failed, cancelled, skipped or missed (an"
        " occurrence the scheduler did not fire; `status_reason` says why)."
    )
    status_reason: str | None
    cancel_requested: bool
    trigger_version: int | None
    message: str | None = Field(description="The rendered message, once the run started.")
    attempt_count: int
    max_attempts: int | None
    deadline_at: Timestamp | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


class InvocationDetail(Invocation):
    attempts: list[Attempt]


class InvocationPage(BaseModel):
    items: list[Invocation] = Field(description="Newest first.")
    next_cursor: str | None = _NEXT_CURSOR


class RunStarted(BaseModel):
    invocation_id: str
    workflow_id: str
    status: Literal["pending"]
    rerun_of: str | None = Field(default=None, description="For a rerun: the original invocation.")


class Compaction(BaseModel):
    started_at: Timestamp
    bytes_before: int
    bytes_after: int
    pause_ms: int = Field(description="How long writes to the manage store waited.")


class SchedulerStatus(BaseModel):
    generation: int
    deployment_id: str
    workflow_id: str
    run_id: str | None
    task_queue: str
    last_tick_at: Timestamp | None
    last_tick: dict[str, Any] | None = Field(description="The last tick's counters.")
    running: bool = Field(description="Whether Temporal reports the workflow running now.")
    manage_store_bytes: int = Field(description="The manage store file's size on disk.")
    last_compaction: Compaction | None = Field(
        description="The latest compaction of the manage store, if any ran."
    )


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    stores: dict[str, Literal["ok", "unavailable"]] = Field(
        description="runtime_db, manage_db and temporal."
    )
    reason: str | None = Field(
        default=None,
        description="Set when the stores answer but the registered scheduler has not ticked"
        " for 3 tick periods.",
    )


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document (this one)."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


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


class AlertHook(BaseModel):
    id: Id
    url: str
    events: list[AlertEventName]
    secret_env: str | None
    created_at: Timestamp
    updated_at: Timestamp


class AlertHookList(BaseModel):
    items: list[AlertHook]


class AlertDelivery(BaseModel):
    """One alert for one hook: `pending` while it is being posted (and retried), then
    `delivered` or `failed` (retries exhausted, with the last error)."""

    id: str
    event: AlertEventName
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    http_status: int | None
    last_error: str | None
    created_at: Timestamp
    finished_at: Timestamp | None
    payload: dict[str, Any] = Field(description="The body that was (or is being) posted.")


class AlertDeliveryList(BaseModel):
    items: list[AlertDelivery]
