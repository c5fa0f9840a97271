"""What begin decides for one run, from the definitions at the branch head and the trigger's
other invocations: deliver (with the rendered message), wait its turn, skip or fail. The
decision reads the runtime store through the caller's session and writes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from manage_db.agents import AgentRow
from manage_db.next_run import InvalidSchedule, Schedule, is_fire_time
from manage_db.timestamps import from_db
from manage_db.triggers import TriggerRow
from runner.contract import RunnerInput
from runner.models import Delivery
from runner.templates import (
    MAX_MESSAGE_BYTES,
    MessageTooLarge,
    TemplateContext,
    TemplateError,
    check_message_size,
    render,
)
from runtime_db.invocations import InvocationKey, running_invocation, waiting_invocation
from runtime_db.models import Invocation, InvocationAttempt


@dataclass(frozen=True)
class Refusal:
    status: str  # skipped | failed
    reason: str
    # Set for a failure that counts as the one attempt made (a message too large to send).
    error_class: str | None = None


@dataclass(frozen=True)
class Wait:
    """buffer_one: wait for the running invocation to end, then begin again."""

    running: uuid.UUID


@dataclass(frozen=True)
class Go:
    trigger: TriggerRow
    agent: AgentRow
    message: str


def decide(
    session: Session,
    run: RunnerInput,
    key: InvocationKey,
    row: Invocation,
    trigger: TriggerRow | None,
    agent: AgentRow | None,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> Refusal | Wait | Go:
    """Deliver, or why not.

    A scheduled run skips a trigger disabled since dispatch (only a user disables a trigger,
    and that is a new version). Manual runs ignore `enabled`.
    """
    if trigger is None:
        return Refusal("skipped", f"trigger {run.trigger_id} no longer exists")
    if run.kind == "scheduled" and not trigger.enabled:
        return Refusal(
            "skipped", f"trigger {run.trigger_id} was disabled (version {trigger.version})"
        )
    if (
        run.kind == "scheduled"
        and trigger.version != run.trigger_version
        and not _still_scheduled(trigger, run.scheduled_for)
    ):
        return Refusal(
            "skipped",
            f"schedule changed since dispatch: {run.scheduled_for} is no longer a fire time of "
            f"trigger {run.trigger_id} (version {trigger.version})",
        )
    if agent is None:
        return Refusal("failed", f"agent {run.agent_id} not found")
    if trigger.overlap_policy in ("skip", "buffer_one"):
        other = running_invocation(session, key, exclude=row.id)
        if other is not None:
            if trigger.overlap_policy == "skip":
                return Refusal("skipped", f"overlap: invocation {other} still running")
            waiting = waiting_invocation(session, key, exclude=row.id)
            if waiting is not None:
                return Refusal(
                    "skipped",
                    f"overlap: invocation {other} still running and {waiting} already waiting",
                )
            return Wait(other)
    context = _template_context(run, trigger, row)
    try:
        check_message_size(trigger.message_template, context, max_message_bytes)
        message = render(trigger.message_template, context)
    except TemplateError as exc:
        return Refusal("failed", f"template error: {exc.message}")
    except MessageTooLarge as exc:
        return Refusal("failed", f"message_too_large: {exc}", error_class="message_too_large")
    return Go(trigger, agent, message)


def _still_scheduled(trigger: TriggerRow, scheduled_for: str) -> bool:
    """Whether the trigger as it stands now would fire at `scheduled_for` too: an edit that
    kept the schedule lets an already dispatched run go; a reschedule stops it."""
    instant = from_db(scheduled_for)
    assert instant is not None
    if trigger.run_at is not None:
        return from_db(trigger.run_at) == instant
    if trigger.cron_expression is None:
        return False
    try:
        return is_fire_time(Schedule(trigger.cron_expression, trigger.cron_timezone), instant)
    except InvalidSchedule:
        return False


def _template_context(run: RunnerInput, trigger: TriggerRow, row: Invocation) -> TemplateContext:
    scheduled_for = from_db(run.scheduled_for)
    assert scheduled_for is not None
    return TemplateContext(
        scheduled_for=scheduled_for,
        timezone=trigger.cron_timezone,
        trigger_id=trigger.id,
        trigger_name=trigger.name,
        invocation_id=str(row.id),
        payload=trigger.payload_dict,
    )


def delivery_of(run: RunnerInput, go: Go, row: Invocation) -> Delivery:
    """What each attempt sends; the row's message, so a resumed begin keeps the first render."""
    trigger, agent = go.trigger, go.agent
    return Delivery(
        invocation_id=str(row.id),
        tenant_id=run.tenant_id,
        project_id=run.project_id,
        agent_id=run.agent_id,
        trigger_id=trigger.id,
        trigger_name=trigger.name,
        scheduled_for=run.scheduled_for,
        message=row.message or go.message,
        payload=trigger.payload_dict,
        url=agent.endpoint_url,
        protocol=agent.protocol,
        auth_header_env=agent.auth_header_env,
        timeout_seconds=trigger.timeout_seconds,
        max_retries=trigger.max_retries,
        retry_delay_seconds=trigger.retry_delay_seconds,
        first_attempt=row.attempt_count + 1,
    )


def refused_attempt(invocation_id: uuid.UUID, now: datetime, refusal: Refusal) -> InvocationAttempt:
    """The attempt a run makes when its message cannot be sent at all: failed, not retried."""
    return InvocationAttempt(
        invocation_id=invocation_id,
        attempt_number=1,
        status="failed",
        http_status=None,
        started_at=now,
        duration_ms=0,
        error_class=refusal.error_class,
        error_message=refusal.reason,
        response_excerpt=None,
    )
