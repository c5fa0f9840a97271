"""Telling the scheduler about a save that made an occurrence due before its next wake.

The scheduler wakes on the minute, and for the earliest due instant it knew of at its last
tick. A one-time trigger saved between ticks for an instant inside the coming minute would
otherwise wait for the next tick; this signal lets it fire on its instant.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from dispatcher.control import wake_scheduler_for
from dispatcher.workflows import until_next_tick
from runtime_db.scheduler_state import current_state
from runtime_db.schedules import earliest_next_run
from service.context import ServiceContext


async def wake_scheduler(ctx: ServiceContext) -> datetime | None:
    """Signal the registered scheduler when the earliest due instant comes before its next
    tick; the instant signalled, or None when there was no need (or no scheduler)."""
    if ctx.temporal is None:
        return None

    def _read() -> tuple[str | None, datetime | None]:
        with ctx.session_factory() as session:
            state = current_state(session)
            return (state.workflow_id if state else None), earliest_next_run(session)

    workflow_id, earliest = await asyncio.to_thread(_read)
    now = ctx.now()
    if workflow_id is None or earliest is None:
        return None
    if not now < earliest < now + until_next_tick(now, ctx.tick_seconds):
        return None
    if not await wake_scheduler_for(ctx.temporal, workflow_id, earliest):
        return None
    return earliest
