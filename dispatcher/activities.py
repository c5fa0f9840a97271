"""The scheduler's activities: registration, the "still current?" check, and the dispatch tick.

Dispatch runs in the order DESIGN.md fixes and no other: list branch heads (one query), scan only
branches whose head moved or whose cached earliest instant has come, select due triggers fairly
within the bounds, start one runner workflow per trigger with bounded concurrency, and only then
advance `next_run_at` by compare-and-set, one transaction and one Dolt commit per branch. A crash
anywhere leaves the trigger due; the next tick's start is refused as a duplicate and advances it.
Time is the workflow's `as_of`; nothing here reads the wall clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from dispatcher.models import (
    CheckInput,
    DispatchInput,
    DispatchLimits,
    RegisterInput,
    TickCounters,
)
from dispatcher.scan import BranchCache, BranchScan, Selected, scan_due, select_fair
from manage_db.next_run import InvalidSchedule, Schedule, decide_due
from manage_db.store import BranchNotFound, ManageStore
from manage_db.timestamps import from_db, to_db
from manage_db.triggers import TriggerRow, advance_next_run
from runner.contract import RUNNER_WORKFLOW, RunnerInput, scheduled_slot, workflow_id_for
from runtime_db import scheduler_state

log = logging.getLogger(__name__)

SCHEDULER_AUTHOR = "scheduler"
_START_RPC_TIMEOUT = timedelta(seconds=10)

# Called with the branch name just before its advance is written. Tests inject a crash here.
AdvanceHook = Callable[[str], None]


@dataclass(frozen=True)
class _Plan:
    """What this tick does with one due trigger: start a run (or not), then how to advance it."""

    selected: Selected
    run: RunnerInput | None  # None: nothing to start (all missed beyond grace, or invalid)
    workflow_id: str | None
    next_run_at: str | None
    last_scheduled_for: str | None
    disable: bool
    invalid: str | None = None  # why the stored definition cannot be fired
    missed: int = 0  # occurrences not fired: older than the grace, or coalesced

    @property
    def trigger(self) -> TriggerRow:
        return self.selected.trigger


@dataclass(frozen=True)
class _Advanced:
    advanced: int
    conflicts: int
    disabled_invalid: int
    head: str | None
    earliest: str | None


class DispatchActivities:
    """Holds the dependencies and the branch-head cache, which lives as long as the worker."""

    def __init__(
        self,
        store: ManageStore,
        session_factory: sessionmaker[Session],
        client: Client,
        task_queue: str,
        limits: DispatchLimits | None = None,
        *,
        advance_hook: AdvanceHook | None = None,
    ) -> None:
        self._store = store
        self._sessions = session_factory
        self._client = client
        self._task_queue = task_queue
        self._limits = limits or DispatchLimits()
        self._advance_hook = advance_hook
        self._cache = BranchCache()

    def callables(self) -> list[Callable[..., Any]]:
        """The bound activity methods, as a Worker's `activities=` wants them."""
        return [self.register, self.check_current, self.dispatch]

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
        with self._sessions() as session:
            return scheduler_state.is_current(session, input.generation)

    @activity.defn(name="scheduler.dispatch")
    async def dispatch(self, input: DispatchInput) -> TickCounters:
        """One tick: find, start, then advance; persist and log the counters."""
        clock = time.monotonic()
        as_of = from_db(input.as_of)
        if as_of is None:
            raise ValueError(f"as_of is not a timestamp: {input.as_of!r}")
        counters = TickCounters(generation=input.generation, as_of=input.as_of)
        scans = await asyncio.to_thread(self._scan, input.as_of, counters)
        selected, counters.deferred = select_fair(scans, self._limits.max_per_tick)
        counters.due = len(selected)
        by_branch: dict[str, list[Selected]] = {}
        for item in selected:
            by_branch.setdefault(item.scan.branch, []).append(item)
        gate = _Gate(self._limits.concurrency, counters)
        write_lock = asyncio.Lock()
        try:
            async with asyncio.TaskGroup() as group:
                for branch, items in by_branch.items():
                    group.create_task(
                        self._dispatch_branch(branch, items, as_of, input, gate, write_lock)
                    )
        except ExceptionGroup as failures:
            # The tick fails as a whole (the next one redoes what was left): report the cause.
            raise failures.exceptions[0] from failures
        counters.duration_ms = round((time.monotonic() - clock) * 1000)
        await asyncio.to_thread(self._record, input.generation, as_of, counters)
        log.info(json.dumps({"event": "scheduler.tick", **counters.as_dict()}))
        return counters

    def _scan(self, as_of: str, counters: TickCounters) -> list[BranchScan]:
        with self._store.read() as conn:
            result = scan_due(conn, self._cache, as_of, self._limits.max_per_branch)
        counters.branches_listed = result.branches_listed
        counters.branches_scanned = len(result.scans)
        return result.scans

    async def _dispatch_branch(
        self,
        branch: str,
        items: list[Selected],
        as_of: datetime,
        input: DispatchInput,
        gate: _Gate,
        write_lock: asyncio.Lock,
    ) -> None:
        """Steps 3 and 4 for one branch: its starts, then its one advance commit."""
        outcomes = await asyncio.gather(*(self._start(item, as_of, gate) for item in items))
        settled = [plan for plan in outcomes if plan is not None]
        if not settled:
            return
        counters = gate.counters
        async with write_lock:  # doltlite has one writer per file: queue, don't contend
            try:
                done = await asyncio.to_thread(self._advance, branch, settled, input.as_of)
            except BranchNotFound:
                log.warning("branch %s was deleted before its advance", branch)
                self._cache.forget(branch)
                return
        counters.advanced += done.advanced
        counters.conflicts += done.conflicts
        counters.disabled_invalid += done.disabled_invalid
        if done.head is None:
            self._cache.forget(branch)
        else:
            self._cache.remember(branch, done.head, done.earliest)
        _heartbeat(counters)

    async def _start(self, item: Selected, as_of: datetime, gate: _Gate) -> _Plan | None:
        """Plan the trigger and start its runner workflow, if it has one to start; the plan,
        or None when the start failed and the trigger must stay due.

        Planning (cron math) happens inside the gate, paced with the starts it overlaps.
        """
        counters = gate.counters
        async with gate:
            plan = _plan(item, as_of)
            counters.skipped_misfire += plan.missed
            if plan.run is None or plan.workflow_id is None:
                return plan
            try:
                await self._client.start_workflow(
                    RUNNER_WORKFLOW,
                    plan.run,
                    id=plan.workflow_id,
                    task_queue=self._task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    rpc_timeout=_START_RPC_TIMEOUT,
                )
                counters.started += 1
            except WorkflowAlreadyStartedError:
                counters.already_started += 1
            except RPCError as exc:
                counters.failed += 1
                log.warning("start of %s failed: %s", plan.workflow_id, exc.message)
                return None
        _heartbeat(counters)
        return plan

    def _advance(self, branch: str, plans: list[_Plan], as_of: str) -> _Advanced:
        """Step 4: compare-and-set each trigger on what was read; one commit for the branch."""
        if self._advance_hook is not None:
            self._advance_hook(branch)
        advanced = 0
        disabled: list[str] = []
        with self._store.write(
            branch, author=SCHEDULER_AUTHOR, message="advance next_run_at"
        ) as unit:
            for plan in plans:
                row = plan.trigger
                assert row.next_run_at is not None
                won = advance_next_run(
                    unit.conn,
                    row.id,
                    expected_next_run_at=row.next_run_at,
                    expected_version=row.version,
                    next_run_at=plan.next_run_at,
                    last_scheduled_for=plan.last_scheduled_for,
                    disable=plan.disable,
                    updated_at=as_of,
                )
                if not won:
                    continue
                advanced += 1
                if plan.invalid is not None:
                    disabled.append(f"disabled {row.id}: {plan.invalid}")
                    log.warning("disabled trigger %s on %s: %s", row.id, branch, plan.invalid)
            unit.message = "; ".join([f"advance next_run_at: {advanced} triggers", *disabled])
            earliest = _earliest_enabled(unit.conn)
        return _Advanced(
            advanced=advanced,
            conflicts=len(plans) - advanced,
            disabled_invalid=len(disabled),
            head=unit.commit_hash,
            earliest=earliest,
        )

    def _record(self, generation: int, as_of: datetime, counters: TickCounters) -> None:
        with self._sessions.begin() as session:
            scheduler_state.record_tick(session, generation, as_of, counters.as_dict())


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


def _heartbeat(counters: TickCounters) -> None:
    """Progress for Temporal during a long tick (the SDK throttles what it sends)."""
    if activity.in_activity():
        activity.heartbeat(
            {"started": counters.started + counters.already_started, "advanced": counters.advanced}
        )


def _plan(item: Selected, as_of: datetime) -> _Plan:
    """Misfire grace and coalescing decide the instant (if any) to fire and the next one.

    A stored definition the math or the id rules refuse (written around the API, or valid
    under older rules) is never fired: it is disabled in this tick's advance, with the reason.
    """
    row = item.trigger
    try:
        schedule = Schedule(
            cron_expression=row.cron_expression,
            cron_timezone=row.cron_timezone,
            run_at=_stored_instant("run_at", row.run_at),
        )
        next_run_at = _stored_instant("next_run_at", row.next_run_at)
        assert next_run_at is not None
        decision = decide_due(schedule, next_run_at, as_of, row.misfire_grace_seconds)
        run = None
        if decision.fire_at is not None:
            run = RunnerInput(
                tenant_id=item.scan.project.tenant_id,
                project_id=item.scan.project.project_id,
                agent_id=row.agent_id,
                trigger_id=row.id,
                scheduled_for=to_db(decision.fire_at),
                kind="scheduled",
                slot=scheduled_slot(decision.fire_at),
                trigger_version=row.version,
            )
        workflow_id = None if run is None else workflow_id_for(run)
    except InvalidSchedule as exc:
        reason = f"invalid schedule ({exc.field}: {exc.message})"
        return _Plan(item, None, None, None, None, disable=True, invalid=reason)
    except ValueError as exc:
        return _Plan(item, None, None, None, None, disable=True, invalid=f"invalid trigger ({exc})")
    next_text = to_db(decision.next_run_at) if decision.next_run_at is not None else None
    return _Plan(
        item,
        run,
        workflow_id,
        next_text,
        None if run is None else run.scheduled_for,
        disable=next_text is None,
        missed=decision.missed,
    )


def _stored_instant(field: str, text: str | None) -> datetime | None:
    try:
        return from_db(text)
    except ValueError:
        raise InvalidSchedule(field, f"stored value {text!r} is not a UTC timestamp") from None


def _earliest_enabled(conn: sqlite3.Connection) -> str | None:
    """The earliest enabled next_run_at on the checked-out branch, inside the open write."""
    row = conn.execute("select min(next_run_at) from triggers where enabled = 1").fetchone()
    return row[0] if row else None
