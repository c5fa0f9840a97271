"""Trigger rows both benchmarks seed straight into doltlite, bypassing the API for speed."""

from __future__ import annotations

from manage_db.triggers import TriggerRow

CREATED = "2026-01-01T00:00:00Z"


def bench_trigger(index: int, *, cron_expression: str, next_run_at: str) -> TriggerRow:
    return TriggerRow(
        id=f"t{index}",
        agent_id="agent-1",
        name=f"trigger {index}",
        description=None,
        enabled=True,
        cron_expression=cron_expression,
        run_at=None,
        cron_timezone="UTC",
        message_template="hello",
        payload="{}",
        max_retries=0,
        retry_delay_seconds=1,
        timeout_seconds=10,
        overlap_policy="allow",
        misfire_grace_seconds=3600,
        next_run_at=next_run_at,
        last_scheduled_for=None,
        version=1,
        request_key=None,
        created_at=CREATED,
        updated_at=CREATED,
    )
