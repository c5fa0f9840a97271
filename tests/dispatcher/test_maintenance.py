"""Compaction of the manage store: when it is due, what it records, and that writes and
dispatches going on meanwhile wait for it rather than fail, losing nothing."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from dispatcher.activities import DispatchActivities
from dispatcher.maintenance import CompactionPolicy, StoreMaintenance
from dispatcher.models import DispatchInput
from manage_db.compaction import store_bytes
from manage_db.store import ManageStore
from manage_db.triggers import list_triggers
from runtime_db.compactions import last_compaction
from runtime_db.schedules import all_schedules
from tests.dispatcher.conftest import add_triggers, trigger

AS_OF = "2026-03-02T10:00:00Z"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _grow(store: ManageStore, branch: str, commits: int, prefix: str) -> None:
    for i in range(commits):
        add_triggers(store, branch, trigger(f"{prefix}{i}", next_run_at=AS_OF))


def test_compaction_is_due_after_enough_growth_and_not_again_within_the_interval(
    manage_store: ManageStore, session_factory: sessionmaker[Session], branch: str
) -> None:
    clock = _Clock(T0)
    policy = CompactionPolicy(
        growth_factor=1.5, min_growth_bytes=20_000, min_interval=timedelta(hours=3)
    )
    maintenance = StoreMaintenance(manage_store, session_factory, policy, clock)

    assert maintenance.run_if_due() is None  # the first look sets the baseline
    _grow(manage_store, branch, 40, "a")
    grown = store_bytes(manage_store)
    done = maintenance.run_if_due()

    assert done is not None
    assert done.bytes_before == grown
    assert done.bytes_after < done.bytes_before
    with session_factory() as session:
        recorded = last_compaction(session)
    assert recorded is not None
    assert (recorded.started_at, recorded.bytes_before, recorded.bytes_after) == (
        T0,
        done.bytes_before,
        done.bytes_after,
    )
    assert recorded.pause_ms == done.pause_ms
    _grow(manage_store, branch, 40, "b")
    clock.now = T0 + timedelta(hours=2, minutes=59)
    assert maintenance.run_if_due() is None  # grown enough, but too soon
    clock.now = T0 + timedelta(hours=3)
    assert maintenance.run_if_due() is not None


async def test_writes_and_dispatches_during_compaction_wait_and_none_is_lost(
    dev_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
) -> None:
    _grow(manage_store, branch, 60, "seed")
    always = CompactionPolicy(growth_factor=1.0, min_growth_bytes=0, min_interval=timedelta(0))
    maintenance = StoreMaintenance(manage_store, session_factory, always)
    activities = DispatchActivities(manage_store, session_factory, dev_env.client, task_queue)
    errors: list[BaseException] = []
    written: list[str] = []

    def writer() -> None:
        try:
            for i in range(30):
                add_triggers(manage_store, branch, trigger(f"live{i}", next_run_at=AS_OF))
                written.append(f"live{i}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    def compactor() -> None:
        try:
            for _ in range(3):
                maintenance.compact_now()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=compactor)]
    for thread in threads:
        thread.start()
    ticks = []
    for minute in range(3):
        as_of = (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ticks.append(await activities.dispatch(DispatchInput(generation=1, as_of=as_of)))
    for thread in threads:
        await asyncio.to_thread(thread.join)
    final = await activities.dispatch(DispatchInput(generation=1, as_of="2026-03-02T10:03:00Z"))

    assert errors == []
    assert len(written) == 30
    with manage_store.read(branch) as conn:
        ids = {row.id for row in list_triggers(conn)}
    assert ids == {f"seed{i}" for i in range(60)} | {f"live{i}" for i in range(30)}
    assert all(tick.failed == 0 for tick in [*ticks, final])
    with session_factory() as session:
        assert last_compaction(session) is not None
        synced = {row.trigger_id for row in all_schedules(session)}
    assert synced == ids
