"""The events alerts report, built from what noticed them: one payload shape for all.

Every alert body is `{event, occurred_at, tenant_id, project_id, agent_id, trigger_id,
invocation_id, scheduled_for, detail}`; the ids an event has nothing to do with are null.
"""

from __future__ import annotations

from datetime import datetime

from manage_db.timestamps import to_db
from runtime_db.alerts import AlertEvent
from runtime_db.models import Invocation

FAILED = "invocation.failed"
MISSED = "invocation.missed"
DISABLED = "trigger.disabled"
STALLED = "scheduler.stalled"


def _payload(
    event: str,
    occurred_at: datetime,
    detail: str | None,
    *,
    agent_id: str | None = None,
    trigger_id: str | None = None,
    invocation_id: str | None = None,
    scheduled_for: datetime | None = None,
) -> dict[str, object]:
    return {
        "event": event,
        "occurred_at": to_db(occurred_at),
        "agent_id": agent_id,
        "trigger_id": trigger_id,
        "invocation_id": invocation_id,
        "scheduled_for": to_db(scheduled_for) if scheduled_for is not None else None,
        "detail": detail,
    }


def invocation_event(event: str, row: Invocation, occurred_at: datetime) -> AlertEvent:
    """`invocation.failed` or `invocation.missed` for an invocation that just ended so."""
    return AlertEvent(
        event=event,
        dedupe_key=f"{event}:{row.id}",
        tenant_id=row.tenant_id,
        project_id=row.project_id,
        payload=_payload(
            event,
            occurred_at,
            row.status_reason,
            agent_id=row.agent_id,
            trigger_id=row.trigger_id,
            invocation_id=str(row.id),
            scheduled_for=row.scheduled_for,
        ),
    )


def ended_event(row: Invocation, occurred_at: datetime) -> AlertEvent | None:
    """The alert an ended invocation raises, if any: a final failure, or an occurrence the
    overlap policy (or the dispatcher) did not fire."""
    if row.status == "failed":
        return invocation_event(FAILED, row, occurred_at)
    if row.status == "missed" or (
        row.status == "skipped" and (row.status_reason or "").startswith("overlap")
    ):
        return invocation_event(MISSED, row, occurred_at)
    return None


def trigger_disabled(
    tenant_id: str,
    project_id: str,
    agent_id: str,
    trigger_id: str,
    version: int,
    reason: str,
    occurred_at: datetime,
) -> AlertEvent:
    """A trigger the system stopped firing (its stored definition cannot be fired)."""
    return AlertEvent(
        event=DISABLED,
        dedupe_key=f"{DISABLED}:{agent_id}/{trigger_id}@{version}",
        tenant_id=tenant_id,
        project_id=project_id,
        payload=_payload(DISABLED, occurred_at, reason, agent_id=agent_id, trigger_id=trigger_id),
    )


def scheduler_stalled(last_tick_at: datetime, reason: str, occurred_at: datetime) -> AlertEvent:
    """Sent to every project's hooks that listen: the scheduler serves them all. One alert per
    stall (keyed by the last tick seen)."""
    return AlertEvent(
        event=STALLED,
        dedupe_key=f"{STALLED}:{to_db(last_tick_at)}",
        payload=_payload(STALLED, occurred_at, reason),
    )
