"""Store maintenance off the tick path: compact the manage store when it has grown enough.

The worker process runs `StoreMaintenance.run` beside the Temporal worker. A compaction is due
when the file has grown to `growth_factor` times its size after the last one (or at the
worker's start) and by at least `min_growth_bytes`, and `min_interval` has passed since the last
one; each is measured, logged, and recorded in the runtime store, where `GET /v1/scheduler`
shows the latest. The factor keeps the file within a constant of its compacted size however
large the install; the minimum keeps a small file from being compacted for a few kilobytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from manage_db.compaction import Compacted, compact, store_bytes
from manage_db.store import ManageStore
from manage_db.timestamps import utc_now
from runtime_db.compactions import last_compaction, record_compaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompactionPolicy:
    growth_factor: float = 2.0
    min_growth_bytes: int = 16 << 20
    min_interval: timedelta = timedelta(hours=3)
    check_every: timedelta = timedelta(minutes=5)


class StoreMaintenance:
    def __init__(
        self,
        store: ManageStore,
        session_factory: sessionmaker[Session],
        policy: CompactionPolicy,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._sessions = session_factory
        self._policy = policy
        self._clock = clock
        self._baseline: int | None = None  # bytes after the last compaction this worker knows

    def due(self, now: datetime) -> bool:
        size = store_bytes(self._store)
        with self._sessions() as session:
            last = last_compaction(session)
        if last is not None and now - last.started_at < self._policy.min_interval:
            return False
        if self._baseline is None:
            self._baseline = last.bytes_after if last is not None else size
        grown = size - self._baseline
        return (
            grown >= self._policy.min_growth_bytes
            and size >= self._baseline * self._policy.growth_factor
        )

    def compact_now(self) -> Compacted:
        started = self._clock()
        done = compact(self._store)
        self._baseline = done.bytes_after
        with self._sessions.begin() as session:
            record_compaction(
                session,
                started_at=started,
                bytes_before=done.bytes_before,
                bytes_after=done.bytes_after,
                pause_ms=done.pause_ms,
            )
        log.info(
            "compacted the manage store: %d -> %d bytes in %d ms (%s)",
            done.bytes_before,
            done.bytes_after,
            done.pause_ms,
            done.summary,
        )
        return done

    def run_if_due(self) -> Compacted | None:
        return self.compact_now() if self.due(self._clock()) else None

    async def run(self, stop: asyncio.Event) -> None:
        """Check every `check_every` until `stop`; a failed check is logged and retried."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.run_if_due)
            except Exception:
                log.exception("store maintenance failed; retrying at the next check")
            try:
                await asyncio.wait_for(stop.wait(), self._policy.check_every.total_seconds())
            except TimeoutError:
                continue
