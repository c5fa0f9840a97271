"""The worker side of the alert outbox: start a workflow for every delivery written, and
notice a stalled scheduler.

Deliveries are written by whoever noticed the event, in its own transaction; this loop starts
their workflows within a second. Starting first and marking after means a crash in between
only repeats a start, which the workflow id turns into a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from alerts.events import scheduler_stalled
from alerts.models import ALERT_WORKFLOW, AlertInput, alert_workflow_id, alerts_queue
from manage_db.timestamps import utc_now
from runtime_db.alerts import enqueue, mark_started, unstarted_deliveries
from runtime_db.scheduler_state import stall_of

log = logging.getLogger(__name__)

_BATCH = 100
_STALL_CHECK = timedelta(seconds=15)


class AlertPump:
    def __init__(
        self,
        client: Client,
        session_factory: sessionmaker[Session],
        task_queue: str,
        tick_seconds: int,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client
        self._sessions = session_factory
        self._queue = alerts_queue(task_queue)
        self._tick_seconds = tick_seconds
        self._now = now
        self._stall_checked: datetime | None = None

    async def run(self, stop: asyncio.Event, every: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.once()
            except Exception:
                log.warning("alert pump pass failed; retrying", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    async def once(self) -> int:
        """One pass: note a stall (at most every 15 s), start what is unstarted; returns how
        many workflows were started."""
        now = self._now()
        if self._stall_checked is None or now - self._stall_checked >= _STALL_CHECK:
            self._stall_checked = now
            await asyncio.to_thread(self._note_stall, now)
        started = 0
        while True:
            ids = await asyncio.to_thread(self._unstarted)
            if not ids:
                return started
            for delivery_id in ids:
                started += await self._start(delivery_id)
            await asyncio.to_thread(self._mark, ids)
            if len(ids) < _BATCH:
                return started

    async def _start(self, delivery_id: uuid.UUID) -> int:
        try:
            await self._client.start_workflow(
                ALERT_WORKFLOW,
                AlertInput(str(delivery_id)),
                id=alert_workflow_id(str(delivery_id)),
                task_queue=self._queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return 0
        return 1

    def _note_stall(self, now: datetime) -> None:
        with self._sessions.begin() as session:
            stall = stall_of(session, now, self._tick_seconds)
            if stall is not None and enqueue(
                session, [scheduler_stalled(stall.last_tick_at, stall.reason, now)], now
            ):
                log.error("scheduler stalled", extra={"fields": {"reason": stall.reason}})

    def _unstarted(self) -> list[uuid.UUID]:
        with self._sessions() as session:
            return unstarted_deliveries(session, _BATCH)

    def _mark(self, ids: list[uuid.UUID]) -> None:
        with self._sessions.begin() as session:
            mark_started(session, ids, self._now())
