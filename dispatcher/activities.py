"""The scheduler's activities: registration, the "still current?" check, and the dispatch tick.

Dispatch runs in this order and no other: list branch heads (one Dolt query) and re-sync the
branches whose head moved into schedule state; select due rows (one indexed PostgreSQL query,
fair across projects within the bounds); start one runner workflow per due trigger with bounded
concurrency; and only then advance `next_run_at` by compare-and-set in PostgreSQL. A crash
anywhere leaves the trigger due; the next tick's start is refused as a duplicate and advances it.
The tick writes nothing to the manage store. Time is the workflow's `as_of`; the wall clock is
read only to wait for an `as_of` the scheduler woke ahead of (`DispatchInput.lead_ms`), or for
a sooner instant saved while it waits. Such a dispatch goes on `WORKER_CLOCK_WAIT` before its
instant and starts its runs ahead of it (`RunnerInput.started_ahead`): each begins at the
instant on its worker's clock, its start at a busy server made already.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from alerts.events import MISSED, invocation_event
from dispatcher.control import wake_scheduler_for
from dispatcher.models import (
    CheckInput,
    DispatchInput,
    DispatchLimits,
    Peek,
    PeekInput,
    RegisterInput,
    TickCounters,
)
from dispatcher.planning import (
    Plan,
    disabled_event,
    missed_rows,
    plan_of,
    skipped_rows,
    started_ahead,
)
from dispatcher.schedule_sync import moved_branches, sync_branch
from manage_db.branches import parse_branch
from manage_db.store import ManageStore, branch_heads
from manage_db.timestamps import from_db, to_db, utc_now
from runner.contract import (
    RUNNER_WORKFLOW,
    WORKER_CLOCK_WAIT,
    RunnerInput,
    ahead_task_timeout,
    workflow_id_for,
)
from runner.launch import pending_row
from runner.threads import in_thread
from runtime_db import scheduler_state
from runtime_db.alerts import enqueue
from runtime_db.invocations import record_missed, record_pending
from runtime_db.schedules import (
    Advance,
    DueBatch,
    DueSchedule,
    advance_all,
    due_batch,
    earliest_next_run,
    earliest_next_runs,
    forget_project,
    synced_heads,
)
from telemetry.metrics import (
    DISPATCH_DEFERRED,
    DISPATCH_MISSED,
    DISPATCH_STARTED,
    INVOCATIONS,
    SCHEDULER_LAST_TICK,
    SCHEDULER_TICKS,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# A start or a signal that the server does not answer in this long is failed, not waited on.
_RPC_TIMEOUT = timedelta(seconds=10)
_HEARTBEAT_EVERY = 1.0  # seconds; the workflow's heartbeat timeout is 5
# How often a dispatch waiting for its instant looks for a sooner one saved meanwhile.
_WATCH_EVERY = 0.25  # seconds
# Triggers planned, started and advanced together; slices of a batch run concurrently.
_CHUNK = 100

# Called with each project branch whose triggers are about to be advanced. Tests inject a crash
# or a concurrent user edit here.
AdvanceHook = Callable[[str], None]


@dataclass(frozen=True)
class _Advanced:
    advanced: int
    conflicts: int
    disabled_invalid: int
    missed: int = 0


class DispatchActivities:
    """Holds the dependencies of the scheduler's activities for as long as the worker runs."""

    def __init__(
        self,
        store: ManageStore,
        session_factory: sessionmaker[Session],
        client: Client,
        task_queue: str,
        limits: DispatchLimits | None = None,
        *,
        advance_hook: AdvanceHook | None = None,
        executor: Executor | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """`executor` runs the tick's store calls; the worker gives the scheduler threads of its
        own, so a tick's reads and writes never queue behind a minute's burst of runs in the
        loop's default pool (a one-time trigger two seconds after the minute waited for them).
        `clock` is the worker's, which a dispatch woken ahead waits on."""
        self._clock = clock
        self._store = store
        self._sessions = session_factory
        self._client = client
        self._task_queue = task_queue
        self._limits = limits or DispatchLimits()
        self._advance_hook = advance_hook
        self._executor = executor

    def callables(self) -> list[Callable[..., Any]]:
        """The bound activity methods, as a Worker's `activities=` wants them."""
        return [self.register, self.check_current, self.check_and_peek, self.dispatch]

    @activity.defn(name="scheduler.register")
    def register(self, input: RegisterInput) -> bool:
        """Take `scheduler_state` for this generation; False when a newer one holds it."""
        with self._sessions.begin() as session:
            return scheduler_state.register(
                session,
                generation=input.generation,
                deployment_id=input.deployment_id,
                workflow_id=input.workflow_id,
                run_id=input.run_id,
                task_queue=input.task_queue,
                now=input.now,
            )

    @activity.defn(name="scheduler.check_current")
    def check_current(self, input: CheckInput) -> bool:
        return self._is_current(input.generation)

    def _is_current(self, generation: int) -> bool:
        with self._sessions() as session:
            return scheduler_state.is_current(session, generation)

    @activity.defn(name="scheduler.check_and_peek")
    def check_and_peek(self, input: PeekInput) -> Peek:
        """The check, and the one-time instant inside the coming tick the scheduler must also
        wake for while this tick's dispatch runs; one read transaction."""
        with self._sessions() as session:
            if not scheduler_state.is_current(session, input.generation):
                return Peek(current=False)
            upcoming = earliest_next_run(
                session, after=from_db(input.after), before=from_db(input.before)
            )
        return Peek(current=True, upcoming_at=to_db(upcoming) if upcoming is not None else None)

    @activity.defn(name="scheduler.dispatch")
    async def dispatch(self, input: DispatchInput) -> TickCounters:
        """One tick: sync, find, start, then advance; persist and log the counters. A tick for
        a one-time instant (`check`) first makes the "still current?" check itself; one the
        scheduler woke ahead of (`lead_ms`) first waits for its `as_of`."""
        as_of = from_db(input.as_of)
        if as_of is None:
            raise ValueError(f"as_of is not a timestamp: {input.as_of!r}")
        after = from_db(input.after)
        counters = TickCounters(generation=input.generation, as_of=input.as_of)
        ahead = 0.0
        if input.lead_ms > 0:
            as_of, ahead = await self._wait_for(as_of, after, input.lead_ms / 1000, counters)
            counters.as_of = to_db(as_of)
        clock = time.monotonic()
        if input.check and not await self._in_thread(self._is_current, input.generation):
            counters.superseded = True
            return counters
        alive = asyncio.create_task(_keep_alive(counters))
        try:
            await self._in_thread(self._sync, as_of, counters)
            if counters.branches_synced:
                await self._tell_of_upcoming(as_of)
            await self._dispatch_due(as_of, after, counters, clock, ahead)
        finally:
            alive.cancel()
        counters.next_due_at, counters.next_after_at = await self._in_thread(self._next_due, as_of)
        _observe_tick(as_of, counters)
        counters.duration_ms = round((time.monotonic() - clock) * 1000)
        await self._in_thread(self._record, input.generation, as_of, counters)
        # An idle tick is news to nobody; one that did something is.
        level = logging.INFO if counters.due or counters.branches_synced else logging.DEBUG
        log.log(level, "scheduler tick", extra={"fields": counters.as_dict()})
        return counters

    async def _wait_for(
        self, as_of: datetime, after: datetime | None, most: float, counters: TickCounters
    ) -> tuple[datetime, float]:
        """Wait until `WORKER_CLOCK_WAIT` before `as_of` by this worker's clock, `most` seconds
        at most (the scheduler woke that long ahead, and a clock that disagrees with the server's
        delays nothing longer), heartbeating. The scheduler holds its dispatch beside the minute
        while this one waits, so an instant saved meanwhile before `as_of` is watched for here
        and taken instead; the instant to dispatch as is returned, with how many seconds ahead
        of it the dispatch goes on (0 when `most` ran out: the clocks then disagree, and the
        runs are started as at their instant)."""
        deadline = time.monotonic() + most
        since = self._clock() if after is None else max(self._clock(), after)
        early = WORKER_CLOCK_WAIT.total_seconds()
        alive = asyncio.create_task(_keep_alive(counters))
        try:
            while True:
                sooner = await self._in_thread(self._earliest, since, as_of)
                target = as_of if sooner is None else sooner
                left = (target - self._clock()).total_seconds()
                lead = deadline - time.monotonic()
                wait = min(left - early, lead)
                if wait <= 0:
                    return target, max(min(left, lead), 0.0)
                await asyncio.sleep(min(wait, _WATCH_EVERY))
        finally:
            alive.cancel()

    async def _dispatch_due(
        self,
        as_of: datetime,
        after: datetime | None,
        counters: TickCounters,
        clock: float,
        ahead: float = 0.0,
    ) -> None:
        """Steps 2 to 4, batch after batch: the bounds pace dispatch and never drop an instant.
        What a batch leaves due goes in the next batch of the same tick, with its own instant;
        only past the tick's time budget is it left for the next tick."""
        gate = _Gate(self._limits.concurrency, counters)
        while True:
            batch = await self._in_thread(self._due, as_of, after)
            if not batch.schedules:
                counters.deferred = 0
                return
            counters.batches += 1
            counters.due += len(batch.schedules)
            schedules = batch.schedules
            chunks = [schedules[i : i + _CHUNK] for i in range(0, len(schedules), _CHUNK)]
            results = await asyncio.gather(
                *(self._dispatch_chunk(chunk, as_of, gate, ahead) for chunk in chunks)
            )
            advanced = sum(done.advanced for done in results)
            counters.advanced += advanced
            counters.conflicts += sum(done.conflicts for done in results)
            counters.disabled_invalid += sum(done.disabled_invalid for done in results)
            counters.skipped_misfire += sum(done.missed for done in results)
            counters.deferred = batch.total_due - len(batch.schedules)
            over_budget = time.monotonic() - clock > self._limits.budget_seconds
            if counters.deferred == 0 or advanced == 0 or over_budget:
                return

    async def _tell_of_upcoming(self, as_of: datetime) -> None:
        """A branch this tick synced may hold an instant the scheduler could not know of when it
        woke: a one-time trigger committed straight to the store (a save through the API tells
        the scheduler itself). Tell it the earliest instant after `as_of`, as a save does, so
        one inside this minute is dispatched beside this tick rather than after it."""
        workflow_id = activity.info().workflow_id if activity.in_activity() else None
        upcoming = await self._in_thread(self._earliest, as_of) if workflow_id else None
        if workflow_id is not None and upcoming is not None:
            await wake_scheduler_for(self._client, workflow_id, upcoming, _RPC_TIMEOUT)

    def _earliest(self, after: datetime, before: datetime | None = None) -> datetime | None:
        """The earliest instant scheduled after `after` (and before `before`)."""
        with self._sessions() as session:
            return earliest_next_run(session, after=after, before=before)

    async def _in_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await in_thread(self._executor, fn, *args)

    def _sync(self, as_of: datetime, counters: TickCounters) -> None:
        """Step 1: one query for every head; re-sync only the branches whose head moved."""
        with self._store.read() as conn:
            heads = branch_heads(conn)
        with self._sessions() as session:
            synced = synced_heads(session)
        moved, gone = moved_branches(heads, synced)
        counters.branches_listed = len(heads)
        for branch in gone:
            project = parse_branch(branch)
            with self._sessions.begin() as session:
                if project is not None:
                    forget_project(session, branch, project.tenant_id, project.project_id)
        for branch in moved:
            try:
                with self._sessions.begin() as session:
                    sync_branch(self._store, session, branch, as_of)
            except sqlite3.OperationalError as exc:
                # A branch the schema migration has not reached yet: skip it, retry next tick.
                log.warning("cannot sync branch %s: %s", branch, exc)
                continue
            counters.branches_synced += 1

    def _next_due(self, as_of: datetime) -> tuple[str | None, str | None]:
        """The earliest instant still scheduled, and the earliest after `as_of`."""
        with self._sessions() as session:
            earliest, later = earliest_next_runs(session, as_of)
        return (
            to_db(earliest) if earliest is not None else None,
            to_db(later) if later is not None else None,
        )

    def _due(self, as_of: datetime, after: datetime | None) -> DueBatch:
        """Step 2: the fair, bounded selection of due rows."""
        limits = self._limits
        with self._sessions() as session:
            return due_batch(
                session, as_of, limits.max_per_branch, limits.max_per_tick, after=after
            )

    async def _dispatch_chunk(
        self, chunk: list[DueSchedule], as_of: datetime, gate: _Gate, ahead: float = 0.0
    ) -> _Advanced:
        """Steps 3 and 4 for a slice of a batch: plan it and record its runs `pending`, start
        them, then advance them. Slices go concurrently, so one slice's planning and advance
        overlap the starts of the others; within a trigger the order stays start, then advance.
        """
        plans = await self._in_thread(self._plan_and_record, chunk, as_of, ahead)
        outcomes = await asyncio.gather(*(self._start(plan, gate) for plan in plans))
        settled = [plan for plan in outcomes if plan is not None]
        missed = sum(plan.missed for plan in plans)
        if not settled:
            return _Advanced(0, 0, 0, missed)
        done = await self._in_thread(self._advance, settled, as_of)
        return _Advanced(done.advanced, done.conflicts, done.disabled_invalid, missed)

    def _plan_and_record(
        self, schedules: list[DueSchedule], as_of: datetime, ahead: float = 0.0
    ) -> list[Plan]:
        """Plan (misfire grace, coalescing) and record the runs as `pending` invocations in one
        statement, before any is started. A dispatch `ahead` seconds before its `as_of` starts
        the runs whose instant is still to come ahead of it; any other leaves a jittered run's
        wait to the runner's timer, as before."""
        plans = [plan_of(due, as_of) for due in schedules]
        if ahead > 0:
            now = as_of - timedelta(seconds=ahead)
            plans = [started_ahead(plan, now) for plan in plans]
        runs = [pending_row(run) for plan in plans for run in plan.runs]
        missed = [row for plan in plans for row in missed_rows(plan, as_of)]
        skipped = [row for plan in plans for row in skipped_rows(plan)]
        with self._sessions.begin() as session:
            record_pending(session, runs)
            new = record_missed(session, missed, as_of)
            enqueue(session, [invocation_event(MISSED, row, as_of) for row in new], as_of)
            record_missed(session, skipped, as_of, status="skipped")
        return plans

    async def _start(self, plan: Plan, gate: _Gate) -> Plan | None:
        """Step 3 for one trigger: start its runner workflow, if it has one to start; the plan,
        or None when the start failed and the trigger must stay due."""
        counters = gate.counters
        async with gate:
            for run in plan.runs:  # oldest first: a catch-up starts in order
                workflow_id = workflow_id_for(run)
                try:
                    await self._client.start_workflow(
                        RUNNER_WORKFLOW,
                        run,
                        id=workflow_id,
                        task_queue=self._runs_queue(),
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        rpc_timeout=_RPC_TIMEOUT,
                        # The run's first workflow task comes back with the start, to this
                        # worker (when it has a free slot): no trip through the task queue.
                        request_eager_start=True,
                        task_timeout=self._task_timeout(run),
                    )
                    counters.started += 1
                except WorkflowAlreadyStartedError:
                    counters.already_started += 1
                except RPCError as exc:
                    counters.failed += 1
                    log.warning("start of %s failed: %s", workflow_id, exc.message)
                    return None
        _heartbeat(counters)
        return plan

    def _task_timeout(self, run: RunnerInput) -> timedelta | None:
        """A run started ahead: a task timeout covering its wait (None: the default)."""
        fire_at = from_db(run.fire_at)
        if not run.started_ahead or fire_at is None:
            return None
        return ahead_task_timeout(fire_at - self._clock())

    def _runs_queue(self) -> str:
        """Runs go on the queue this dispatch runs on, so an eager start lands in the worker
        running it: a minute's on the runs' queue (`SchedulerInput.runs_queue`), one beside the
        minute or for a one-time instant on the scheduler's."""
        return activity.info().task_queue if activity.in_activity() else self._task_queue

    def _advance(self, plans: list[Plan], as_of: datetime) -> _Advanced:
        """Step 4: compare-and-set each trigger on what was read, in one statement."""
        if self._advance_hook is not None:
            for branch in sorted({plan.branch for plan in plans}):
                self._advance_hook(branch)
        advanced = invalid = 0
        with self._sessions.begin() as session:
            won = advance_all(
                session,
                [
                    Advance(
                        plan.due,
                        next_run_at=plan.next_run_at,
                        last_scheduled_for=from_db(plan.run.scheduled_for) if plan.run else None,
                        runs=len(plan.runs),
                        invalid_reason=plan.invalid,
                        completed_reason=plan.completed,
                    )
                    for plan in plans
                ],
                as_of,
            )
            for plan in plans:
                if (plan.due.tenant_id, plan.due.project_id, plan.due.trigger_id) not in won:
                    continue
                advanced += 1
                if plan.invalid is not None:
                    invalid += 1
                    enqueue(session, [disabled_event(plan.due, plan.invalid, as_of)], as_of)
                    log.warning(
                        "trigger %s on %s cannot fire and is held: %s",
                        plan.due.trigger_id,
                        plan.branch,
                        plan.invalid,
                    )
        return _Advanced(advanced, len(plans) - advanced, invalid)

    def _record(self, generation: int, as_of: datetime, counters: TickCounters) -> None:
        """The tick's work is done by now: failing to save its counters does not undo it, so it
        is logged (the counters are in the log line) rather than failing the tick."""
        try:
            with self._sessions.begin() as session:
                scheduler_state.record_tick(session, generation, as_of, counters.as_dict())
        except SQLAlchemyError as exc:
            log.warning("could not save the counters of the tick at %s: %s", to_db(as_of), exc)


class _Gate:
    """The bound on starts in flight, which also records the highest number reached."""

    def __init__(self, limit: int, counters: TickCounters) -> None:
        self._semaphore = asyncio.Semaphore(limit)
        self._in_flight = 0
        self.counters = counters

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()
        self._in_flight += 1
        self.counters.max_in_flight = max(self.counters.max_in_flight, self._in_flight)

    async def __aexit__(self, *exc: object) -> None:
        self._in_flight -= 1
        self._semaphore.release()


def _observe_tick(as_of: datetime, counters: TickCounters) -> None:
    SCHEDULER_TICKS.inc()
    SCHEDULER_LAST_TICK.set(as_of.timestamp())
    DISPATCH_STARTED.inc(counters.started)
    DISPATCH_DEFERRED.inc(counters.deferred)
    DISPATCH_MISSED.inc(counters.skipped_misfire)
    INVOCATIONS.labels(status="missed").inc(counters.skipped_misfire)


async def _keep_alive(counters: TickCounters) -> None:
    """Heartbeat through every phase of a tick, so that only a dead worker misses the timeout."""
    while True:
        _heartbeat(counters)
        await asyncio.sleep(_HEARTBEAT_EVERY)


def _heartbeat(counters: TickCounters) -> None:
    """Progress for Temporal during a long tick (the SDK throttles what it sends)."""
    if activity.in_activity():
        activity.heartbeat(
            {"started": counters.started + counters.already_started, "advanced": counters.advanced}
        )
