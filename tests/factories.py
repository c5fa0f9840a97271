"""Rows for tests that seed the manage store directly, bypassing the API on purpose."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from manage_db.triggers import TriggerRow

STAMP = "2026-01-01T00:00:00Z"


def trigger_row(trigger_id: str, **fields: Any) -> TriggerRow:
    """A daily 09:00 UTC webhook trigger with ordinary settings; `fields` override any column."""
    row = TriggerRow(
        id=trigger_id,
        agent_id="bot",
        name=trigger_id,
        description=None,
        enabled=True,
        cron_expression="0 9 * * *",
        run_at=None,
        cron_timezone="UTC",
        message_template="hello",
        payload="{}",
        max_retries=3,
        retry_delay_seconds=60,
        timeout_seconds=30,
        overlap_policy="allow",
        misfire_grace_seconds=300,
        next_run_at=None,
        last_scheduled_for=None,
        version=1,
        request_key=None,
        created_at=STAMP,
        updated_at=STAMP,
    )
    return replace(row, **fields)
