"""The manage store at age: B project branches x T triggers `* * * * *` over D simulated days.

Builds the store, compacts it once, then simulates D days through the real code: dispatch ticks
(`DispatchActivities.dispatch`: branch sync, due query, starts, the advance in PostgreSQL) and
user edits through the service layer (a Dolt commit and its sync each), with the store
maintenance policy on, driven by the simulated clock. Temporal is replaced by a recorder of
starts (the store is what is measured here, not Temporal). Every tick of a day advances all
B x T triggers, so `ticks_per_day` full ticks are run per simulated day (each a real tick that
coalesces the minutes since the previous one) rather than 1,440.

Prints JSON, its summary last: bytes ticks appended to the manage file (target 0), history
latency p50/p99 on day 0 and day D (target: day D p99 < 2x day 0 and < 50 ms), the idle tick on
day D (< 50 ms), the user-edit commit on day 0 and day D, and the file size at the end against
its size after the initial build and compaction (< 2x).

    .venv/bin/python bench/store_age.py [--branches 2000] [--triggers 2] [--days 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from seeding import (  # imports manage_db first, which bootstraps doltlite
    bench_trigger,
    run_and_print,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from dispatcher.activities import DispatchActivities
from dispatcher.maintenance import CompactionPolicy, StoreMaintenance
from dispatcher.models import DispatchInput, DispatchLimits, TickCounters
from manage_db.branches import project_branch
from manage_db.compaction import compact, store_bytes
from manage_db.migrate import migrate_store
from manage_db.store import ManageStore
from manage_db.timestamps import to_db
from manage_db.triggers import insert_trigger
from runtime_db import migrate as runtime_migrate
from runtime_db.engine import make_engine, make_session_factory
from service.context import ServiceContext
from service.inputs import PageQuery, TriggerPatch
from service.scope import Scope
from service.trigger_history import trigger_history
from service.triggers import patch_trigger
from timekeeper.embedded import EmbeddedPostgres

DAY0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
HISTORY_READS = 50


class StartRecorder:
    """Stands in for the Temporal client: records each start, refuses a repeated id."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def start_workflow(self, workflow: str, arg: object, *, id: str, **_: Any) -> None:
        if id in self.ids:
            raise WorkflowAlreadyStartedError(id, workflow)
        self.ids.add(id)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def build(store: ManageStore, branches: int, triggers: int) -> None:
    conn = store.connect()
    try:
        for b in range(branches):
            conn.execute("select dolt_checkout('-b', ?, 'main')", (project_branch("t", f"p{b}"),))
            conn.execute("begin")
            for i in range(triggers):
                row = bench_trigger(i, cron_expression="* * * * *", next_run_at=to_db(DAY0))
                insert_trigger(conn, row)
            conn.execute("select dolt_commit('-A', '-m', 'bench triggers')")
            if conn.in_transaction:
                conn.execute("commit")
    finally:
        conn.close()


def _ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered) * 1000, 2), "p99": round(p99 * 1000, 2)}


def _timed(action: Callable[[], object], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


class Simulation:
    def __init__(self, args: argparse.Namespace, store: ManageStore, engine: Any) -> None:
        self.args = args
        self.store = store
        self.clock = Clock(DAY0)
        sessions = make_session_factory(engine)
        self.ctx = ServiceContext(sessions, store, None, "bench", now=self.clock)
        limits = DispatchLimits(
            max_per_tick=args.branches * args.triggers,
            max_per_branch=args.triggers,
            concurrency=200,
        )
        self.dispatch = DispatchActivities(store, sessions, StartRecorder(), "bench", limits)  # type: ignore[arg-type]  # a recorder stands in for Temporal
        policy = CompactionPolicy(
            growth_factor=args.compact_growth_factor,
            min_growth_bytes=0,
            min_interval=timedelta(hours=3),
        )
        self.maintenance = StoreMaintenance(store, sessions, policy, self.clock)
        self.random = random.Random(7)
        self.hot = Scope("bench", "t", "p0", "agent-1", "t0")
        self.appended_by_ticks = 0
        self.ticks = 0
        self.edits = 0
        self.compactions = 0

    async def tick(self, at: datetime) -> TickCounters:
        before = store_bytes(self.store)
        counters = await self.dispatch.dispatch(DispatchInput(generation=1, as_of=to_db(at)))
        self.appended_by_ticks += store_bytes(self.store) - before
        self.ticks += 1
        return counters

    def edit(self, scope: Scope) -> None:
        self.edits += 1
        patch = TriggerPatch.model_validate({"description": f"edit {self.edits}"})
        patch_trigger(self.ctx, scope, None, patch)

    def random_scope(self) -> Scope:
        branch = self.random.randrange(self.args.branches)
        trigger = self.random.randrange(self.args.triggers)
        return Scope("bench", "t", f"p{branch}", "agent-1", f"t{trigger}")

    def read_history(self) -> None:
        trigger_history(self.ctx, self.hot, PageQuery())

    async def measure(self, label: str) -> dict[str, Any]:
        """History reads, idle ticks (nothing due, nothing moved) and timed user edits."""
        history = _timed(self.read_history, HISTORY_READS)
        edits = _timed(lambda: self.edit(self.random_scope()), 10)
        await self.tick(self.clock.now)  # syncs the edited branches
        idle = []
        for second in range(1, 21):
            started = time.perf_counter()
            counters = await self.tick(self.clock.now + timedelta(seconds=second))
            idle.append(time.perf_counter() - started)
            assert (counters.due, counters.branches_synced) == (0, 0), counters
        return {
            f"history_ms_{label}": _ms(history),
            f"user_edit_commit_ms_{label}": _ms(edits),
            f"idle_tick_ms_{label}": _ms(idle),
        }

    async def day(self, day: int) -> None:
        """`ticks_per_day` full ticks spread over the day, user edits between them."""
        step = timedelta(days=1) / self.args.ticks_per_day
        for i in range(self.args.ticks_per_day):
            self.clock.now = DAY0 + timedelta(days=day) + step * i
            counters = await self.tick(self.clock.now)
            assert counters.advanced == counters.due == self.args.branches * self.args.triggers
            for _ in range(self.args.edits_per_day // self.args.ticks_per_day):
                self.edit(self.hot if self.random.random() < 0.05 else self.random_scope())
            if await asyncio.to_thread(self.maintenance.run_if_due) is not None:
                self.compactions += 1


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    postgres = EmbeddedPostgres(tmp / "pg")
    engine = make_engine(postgres.start())
    try:
        runtime_migrate.upgrade(engine)
        store = ManageStore(tmp / "manage.db")
        migrate_store(store)
        started = time.perf_counter()
        build(store, args.branches, args.triggers)
        built_seconds = time.perf_counter() - started
        built_bytes = store_bytes(store)
        compacted = compact(store).bytes_after
        sim = Simulation(args, store, engine)
        first = await sim.tick(DAY0)  # the first sync of every branch, and the first runs
        assert first.branches_synced == args.branches, first
        day0 = await sim.measure("day0")
        for day in range(1, args.days + 1):
            await sim.day(day)
        sim.clock.now = DAY0 + timedelta(days=args.days, hours=23, minutes=59)
        await sim.tick(sim.clock.now)
        dayd = await sim.measure(f"day{args.days}")
        sim.clock.now += timedelta(minutes=5)  # the worker's next maintenance check
        if await asyncio.to_thread(sim.maintenance.run_if_due) is not None:
            sim.compactions += 1
        final_bytes = store_bytes(store)
    finally:
        engine.dispose()
        postgres.stop()
    history0 = day0["history_ms_day0"]["p99"]
    historyd = dayd[f"history_ms_day{args.days}"]["p99"]
    idled = dayd[f"idle_tick_ms_day{args.days}"]["p50"]
    return {
        "method": (
            f"{args.ticks_per_day} full ticks per simulated day through the real dispatch and"
            " advance code; Temporal replaced by a recorder of starts; user edits through the"
            " service layer; maintenance (dolt_gc) on the simulated clock"
        ),
        "branches": args.branches,
        "triggers_per_branch": args.triggers,
        "days": args.days,
        "ticks_run": sim.ticks,
        "user_edits": sim.edits,
        "compactions": sim.compactions,
        "compaction_growth_factor": args.compact_growth_factor,
        "build_seconds": round(built_seconds, 1),
        "bytes_after_build": built_bytes,
        "bytes_after_build_and_compaction": compacted,
        **day0,
        **dayd,
        "summary": {
            "bytes_appended_by_ticks": sim.appended_by_ticks,
            "bytes_appended_per_tick": sim.appended_by_ticks / sim.ticks,
            "history_p99_ms_day0": history0,
            f"history_p99_ms_day{args.days}": historyd,
            "history_p99_ratio": round(historyd / history0, 2),
            f"idle_tick_p50_ms_day{args.days}": idled,
            "final_bytes": final_bytes,
            "final_size_ratio": round(final_bytes / compacted, 2),
            "targets_met": sim.appended_by_ticks == 0
            and historyd <= 2 * history0
            and historyd < 50
            and idled < 50
            and final_bytes < 2 * compacted,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=2000)
    parser.add_argument("--triggers", type=int, default=2, help="triggers per branch")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--ticks-per-day", type=int, default=4)
    parser.add_argument("--edits-per-day", type=int, default=20)
    parser.add_argument(
        "--compact-growth-factor",
        type=float,
        default=1.5,
        help="the maintenance policy's growth factor (its minimum growth is 0 here)",
    )
    run_and_print(run, parser.parse_args())


if __name__ == "__main__":
    main()
