"""Rows for tests that seed the manage store directly, bypassing the API on purpose."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from manage_db.timestamps import from_db
from manage_db.triggers import TriggerRow
from runtime_db.models import TriggerSchedule

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
        catchup="latest",
        next_run_at=None,
        last_scheduled_for=None,
        version=1,
        request_key=None,
        created_at=STAMP,
        updated_at=STAMP,
    )
    return replace(row, **fields)


def record_dispatch(
    session_factory: sessionmaker[Session],
    trigger_id: str,
    *,
    next_run_at: str | None,
    last_scheduled_for: str,
    run_count: int | None = None,
    completed_reason: str | None = None,
) -> None:
    """Move a trigger's schedule state as a dispatch tick does after starting its run."""
    with session_factory.begin() as session:
        moved = session.execute(
            update(TriggerSchedule)
            .where(TriggerSchedule.trigger_id == trigger_id)
            .values(
                next_run_at=from_db(next_run_at),
                last_scheduled_for=from_db(last_scheduled_for),
                run_count=TriggerSchedule.run_count + 1 if run_count is None else run_count,
                completed_reason=completed_reason,
            )
        )
        assert getattr(moved, "rowcount", 0) == 1
