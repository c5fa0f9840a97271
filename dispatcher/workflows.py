"""SchedulerWorkflow: the one live scheduler of a deployment, ticking on the minute.

Thin and deterministic: it registers its generation, then each tick sleeps to the next boundary
of `workflow.now()` (or to an earlier instant the last tick reported due, such as a one-time
trigger at 12:00:27), asks whether it is still current (ending quietly when a newer generation
took over), and hands the tick to the dispatch activity with `as_of` from its own clock.

While a minute's dispatch runs (seconds, for a thousand triggers), a one-time instant inside
that minute does not wait for it: the scheduler wakes for the instant beside it and dispatches,
after a check of its own, only what came due after the minute's `as_of` (patch
`beside-the-minute`).

It wakes ahead of a one-time instant (up to 30 s) and hands the dispatch that instant as `as_of`;
the dispatch waits for it on the worker's clock, so a server timer firing late in a busy minute
does not make the run late (patch `lead-the-instant`). With a minute lead
(`SchedulerInput.minute_lead_ms`, which versions it) it hands each minute to its dispatch that
far ahead as well, and the minute's runs are started before the minute, each to begin at it on
its worker's clock.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityHandle

with workflow.unsafe.imports_passed_through():
    from dispatcher.activities import DispatchActivities
    from dispatcher.models import (
        SCHEDULER_WORKFLOW,
        WAKE_SIGNAL,
        CheckInput,
        DispatchInput,
        Peek,
        PeekInput,
        RegisterInput,
        SchedulerInput,
        SchedulerOutcome,
        TickCounters,
    )
    from manage_db.timestamps import from_db, to_db

# Runs registered before the wake signal existed keep sleeping with one timer on replay.
_WAKE_PATCH = "wake-signal"
# Runs recorded before the check became a local activity keep their activity task on replay.
_LOCAL_CHECK = "local-check"
# Runs recorded before one-time instants were dispatched beside a running minute tick keep
# their one dispatch at a time on replay.
_BESIDE_PATCH = "beside-the-minute"
# Runs recorded before the scheduler woke ahead of one-time instants keep waking at the instant
# on replay.
_LEAD_PATCH = "lead-the-instant"
# The dispatch heartbeats while it waits, and watches for a sooner instant saved meanwhile; a
# lead longer than this would hold the scheduler's dispatch beside the minute for nothing.
_MAX_LEAD = timedelta(seconds=30)
# Registration and the check are idempotent reads/upserts: retry until the store answers.
_STATE_TIMEOUT = timedelta(seconds=10)
_STATE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
# A dispatch interrupted by a crash is noticed within the heartbeat timeout and retried on a
# live worker with the same `as_of`: the tick is idempotent (a repeated start is refused as a
# duplicate, an advance is a compare-and-set), so the crashed minute's runs start seconds late
# rather than being coalesced into the next minute. A tick that keeps failing gives way to the
# next one after a few attempts.
_DISPATCH_TIMEOUT = timedelta(minutes=10)
_DISPATCH_HEARTBEAT = timedelta(seconds=5)
_DISPATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


def until_next_tick(now: datetime, tick_seconds: int) -> timedelta:
    """Time from `now` to the next multiple of `tick_seconds` since the epoch (never zero)."""
    micros = round(now.timestamp() * 1_000_000)
    period = tick_seconds * 1_000_000
    return timedelta(microseconds=period - micros % period)


def until_wake(now: datetime, tick_seconds: int, early: datetime | None) -> timedelta:
    """Until the next tick, or until `early` when that comes first: the scheduler keeps its
    minute for cron and also wakes for a one-time instant inside the coming tick."""
    tick = until_next_tick(now, tick_seconds)
    if early is not None and now < early < now + tick:
        return early - now
    return tick


@workflow.defn(name=SCHEDULER_WORKFLOW)
class SchedulerWorkflow:
    def __init__(self) -> None:
        self._told: datetime | None = None  # an instant a save made due before the next wake

    @workflow.signal(name=WAKE_SIGNAL)
    def wake(self, instant: str) -> None:
        """A save made an occurrence due sooner than this scheduler planned to wake (a one-time
        trigger created between ticks): sleep only until then."""
        told = from_db(instant)
        if told is not None and (self._told is None or told < self._told):
            self._told = told

    async def _sleep(self, tick_seconds: int, early: datetime | None) -> bool:
        """Until the next tick or `early`, shortened by a wake signal for a sooner instant;
        whether it woke before the next tick (for a one-time instant)."""
        tick = workflow.now() + until_next_tick(workflow.now(), tick_seconds)
        if not workflow.patched(_WAKE_PATCH):
            await workflow.sleep(until_wake(workflow.now(), tick_seconds, early))
            return workflow.now() < tick
        while True:
            planned = min((t for t in (early, self._told) if t is not None), default=None)
            if planned is not None and planned <= workflow.now():
                break  # told of an instant already due: dispatch now
            told = self._told
            try:
                await workflow.wait_condition(
                    lambda told=told: self._told != told,  # type: ignore[misc]
                    timeout=until_wake(workflow.now(), tick_seconds, planned),
                )
            except TimeoutError:
                break
        self._told = None
        return workflow.now() < tick

    async def _sleep_ahead(
        self,
        tick_seconds: int,
        early: datetime | None,
        lead: timedelta,
        minute_lead: timedelta = timedelta(0),
        done: datetime | None = None,
    ) -> _Wake:
        """Until `minute_lead` before the next tick (that tick, for the minute's dispatch), or
        until `lead` before a one-time instant inside it (`early`, or one a wake signal told of):
        that instant, for a dispatch that waits for it. `done`: the last minute dispatched ahead
        of time, whose dispatch may end before it; the next tick is then the one after it."""
        next_tick = workflow.now() + until_next_tick(workflow.now(), tick_seconds)
        if done is not None and next_tick <= done:
            next_tick = done + timedelta(seconds=tick_seconds)
        while True:
            now = workflow.now()
            if next_tick - minute_lead <= now:
                self._told = None
                return _Wake(next_tick, minute=True)
            candidates = (t for t in (early, self._told) if t is not None and t < next_tick)
            planned = min(candidates, default=None)
            if planned is not None and planned - lead <= now:
                self._told = None
                return _Wake(max(planned, now), minute=False)
            wake = next_tick - minute_lead
            if planned is not None:
                wake = min(wake, planned - lead)
            told = self._told
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda told=told: self._told != told,  # type: ignore[misc]
                    timeout=wake - now,
                )

    async def _is_current(self, generation: int) -> bool:
        """The "still current?" check, a local activity of the task the wake-up runs in (patch
        `local-check`): a tick that used to wait for an activity task and one more workflow task
        at a busy server dispatches that much sooner."""
        local = workflow.patched(_LOCAL_CHECK)
        execute = (
            workflow.execute_local_activity_method if local else workflow.execute_activity_method
        )
        current: bool = await execute(
            DispatchActivities.check_current,
            CheckInput(generation),
            start_to_close_timeout=_STATE_TIMEOUT,
            retry_policy=_STATE_RETRY,
        )
        return current

    @workflow.run
    async def run(self, input: SchedulerInput) -> SchedulerOutcome:
        info = workflow.info()
        registered = await workflow.execute_activity_method(
            DispatchActivities.register,
            RegisterInput(
                generation=input.generation,
                deployment_id=input.deployment_id,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                task_queue=info.task_queue,
                now=workflow.now(),
            ),
            start_to_close_timeout=_STATE_TIMEOUT,
            retry_policy=_STATE_RETRY,
        )
        if not registered:
            return SchedulerOutcome("superseded", ticks=input.ticks_before)
        ticks = input.ticks_before
        early: datetime | None = None  # a due instant before the next tick, if the last knew one
        ahead = workflow.patched(_LEAD_PATCH)
        lead = min(timedelta(milliseconds=max(input.lead_ms, 0)), _MAX_LEAD)
        minute_lead = min(timedelta(milliseconds=max(input.minute_lead_ms, 0)), _MAX_LEAD)
        done: datetime | None = None  # the last minute dispatched ahead of it
        while input.stop_after_ticks is None or ticks < input.stop_after_ticks:
            if (
                ticks - input.ticks_before >= input.ticks_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                workflow.continue_as_new(replace(input, ticks_before=ticks))
            if ahead:
                woke = await self._sleep_ahead(input.tick_seconds, early, lead, minute_lead, done)
                if not woke.minute:
                    tick = await self._early_tick(input, woke.instant)
                elif minute_lead:
                    tick = await self._tick(input, lead, minute=woke.instant)
                    done = woke.instant
                else:
                    tick = await self._tick(input, lead)
            else:
                woke_early = await self._sleep(input.tick_seconds, early)
                if workflow.patched(_BESIDE_PATCH):
                    tick = await (
                        self._early_tick(input, workflow.now())
                        if woke_early
                        else self._tick(input, timedelta(0))
                    )
                else:
                    tick = await self._one_dispatch_tick(input)
            ticks += tick.dispatched
            if tick.superseded:
                return SchedulerOutcome("superseded", ticks=ticks)
            early = tick.early
        return SchedulerOutcome("stopped", ticks=ticks)

    def _start_dispatch(
        self, input: DispatchInput, task_queue: str | None = None
    ) -> ActivityHandle[TickCounters]:
        """The dispatch activity, on `task_queue` (None: the scheduler's own)."""
        return workflow.start_activity_method(
            DispatchActivities.dispatch,
            input,
            task_queue=task_queue,
            start_to_close_timeout=_DISPATCH_TIMEOUT,
            heartbeat_timeout=_DISPATCH_HEARTBEAT,
            retry_policy=_DISPATCH_RETRY,
        )

    async def _dispatch(self, input: DispatchInput) -> TickCounters | None:
        return await self._settled(self._start_dispatch(input))

    async def _settled(self, dispatch: ActivityHandle[TickCounters]) -> TickCounters | None:
        """A dispatch activity's counters; None when it failed for good (the next tick
        retries)."""
        try:
            counters: TickCounters = await dispatch
        except ActivityError as exc:
            workflow.logger.warning("dispatch tick failed; the next tick retries: %s", exc)
            return None
        return counters

    async def _peek(self, generation: int, after: datetime, before: datetime) -> Peek:
        peek: Peek = await workflow.execute_local_activity_method(
            DispatchActivities.check_and_peek,
            PeekInput(generation, after=to_db(after), before=to_db(before)),
            start_to_close_timeout=_STATE_TIMEOUT,
            retry_policy=_STATE_RETRY,
        )
        return peek

    async def _one_dispatch_tick(self, input: SchedulerInput) -> _Tick:
        """A tick of a run recorded before `beside-the-minute`: the check, then one dispatch."""
        if not await self._is_current(input.generation):
            return _Tick(dispatched=0, superseded=True, early=None)
        counters = await self._dispatch(DispatchInput(input.generation, to_db(workflow.now())))
        early = from_db(counters.next_due_at) if counters else None
        return _Tick(dispatched=1, superseded=False, early=early)

    async def _early_tick(self, input: SchedulerInput, instant: datetime) -> _Tick:
        """A wake-up for the one-time `instant`, the minute's dispatch over: one dispatch, which
        makes the check itself, so the wake-up waits for no local activity in a worker that may
        still be busy with the minute's runs. What it leaves due inside the minute it reports."""
        counters = await self._dispatch(
            DispatchInput(input.generation, to_db(instant), check=True, lead_ms=_ahead_ms(instant))
        )
        if counters is not None and counters.superseded:
            return _Tick(dispatched=0, superseded=True, early=None)
        early = from_db(counters.next_due_at) if counters else None
        return _Tick(dispatched=1, superseded=False, early=early)

    async def _tick(
        self, input: SchedulerInput, lead: timedelta, minute: datetime | None = None
    ) -> _Tick:
        """Check, dispatch the tick, and meanwhile dispatch each one-time instant that comes
        due before both the next tick and the end of this tick's dispatch, each with a check of
        its own (inside that dispatch), woken `lead` ahead of it. One dispatch beside the minute's
        at a time, and only of instants after the minute's `as_of`, so the two never take the
        same trigger. `minute`: the tick woken ahead of it, dispatched as of it; an instant told
        of before it is left to the minute's dispatch, or to the next wake."""
        now = workflow.now() if minute is None else minute
        boundary = now + until_next_tick(now, input.tick_seconds)
        peek = await self._peek(input.generation, now, boundary)
        if not peek.current:
            return _Tick(dispatched=0, superseded=True, early=None)
        dispatch = DispatchInput(input.generation, to_db(now))
        if minute is not None:
            dispatch = replace(dispatch, lead_ms=_ahead_ms(minute))
        minute_dispatch = self._start_dispatch(dispatch, task_queue=input.runs_queue)
        upcoming = from_db(peek.upcoming_at)
        dispatched, superseded = 1, False
        beside_until: datetime | None = None  # the `as_of` of the last dispatch beside it
        while not minute_dispatch.done():
            candidates = (upcoming, self._told)
            planned = min(
                (t for t in candidates if t is not None and (minute is None or t > now)),
                default=None,
            )
            if planned is None or planned >= boundary:
                planned = None
            told = self._told
            timeout = None if planned is None else planned - lead - workflow.now()
            if timeout is None or timeout > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda told=told: minute_dispatch.done() or self._told != told,  # type: ignore[misc]
                        timeout=timeout,
                    )
                    continue
                except TimeoutError:
                    pass
            at = workflow.now() if planned is None else max(workflow.now(), planned)
            if self._told is not None and self._told <= at:
                self._told = None
            # The dispatch beside the minute's makes the check itself: the wake-up schedules it
            # at once, with no local activity to wait for inside a busy worker.
            counters = await self._dispatch(
                DispatchInput(
                    input.generation,
                    to_db(at),
                    after=to_db(now),
                    check=True,
                    lead_ms=_ahead_ms(at),
                )
            )
            if counters is not None and counters.superseded:
                superseded = True
                break
            dispatched += 1
            if counters is not None:  # a failed one leaves its instant due: woken for again
                beside_until = at
            upcoming = from_db(counters.next_after_at) if counters else None
        counters = await self._settled(minute_dispatch)
        early = from_db(counters.next_due_at) if counters else None
        if early is not None and beside_until is not None and now < early <= beside_until:
            early = upcoming  # read before the dispatch beside it advanced that instant
        return _Tick(dispatched=dispatched, superseded=superseded, early=early)


def _ahead_ms(instant: datetime) -> int:
    """How far ahead of `instant` the workflow's clock is, in whole milliseconds (0 past it)."""
    return max(round((instant - workflow.now()) / timedelta(milliseconds=1)), 0)


@dataclass(frozen=True)
class _Wake:
    """What the scheduler woke for: the next tick (`minute`), or a one-time instant."""

    instant: datetime
    minute: bool


@dataclass(frozen=True)
class _Tick:
    """What a tick did: dispatches made (the minute's and those beside it), whether it found
    the scheduler superseded, and the earliest instant to wake for before the next tick."""

    dispatched: int
    superseded: bool
    early: datetime | None
