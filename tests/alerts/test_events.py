"""Which ended invocations raise an alert, and what it says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from alerts.events import ended_event
from runtime_db.models import Invocation

AT = datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)
ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _ended(status: str, reason: str | None) -> Invocation:
    return Invocation(
        id=ID,
        tenant_id="acme",
        project_id="web",
        agent_id="bot",
        trigger_id="daily",
        scheduled_for=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        kind="scheduled",
        status=status,
        status_reason=reason,
    )


@pytest.mark.parametrize(
    ("status", "reason", "event"),
    [
        ("failed", "http_5xx: HTTP 503", "invocation.failed"),
        ("missed", "missed: coalesced", "invocation.missed"),
        ("skipped", "overlap: invocation 42 still running", "invocation.missed"),
        ("skipped", "trigger daily was disabled (version 3)", None),
        ("completed", None, None),
        ("cancelled", "cancelled by alice", None),
    ],
)
def test_failures_misses_and_overlap_skips_raise_alerts(
    status: str, reason: str | None, event: str | None
) -> None:
    raised = ended_event(_ended(status, reason), AT)
    if event is None:
        assert raised is None
        return
    assert raised is not None
    assert (raised.event, raised.dedupe_key, raised.tenant_id, raised.project_id) == (
        event,
        f"{event}:{ID}",
        "acme",
        "web",
    )
    assert raised.payload == {
        "event": event,
        "occurred_at": "2026-03-02T10:00:05Z",
        "agent_id": "bot",
        "trigger_id": "daily",
        "invocation_id": str(ID),
        "scheduled_for": "2026-03-02T10:00:00Z",
        "detail": reason,
    }
