"""Inputs and outputs of the scheduler workflow and its activities: one dataclass each, no I/O.

They travel through Temporal's history, so they hold plain values and stay stable: a field
added later needs a default, or histories recorded before it no longer replay.

Annotations here are real types, not strings (no `from __future__ import annotations`): the
payload converter resolves a dataclass's hints on every decode, and string hints made that
about three times slower (BENCHMARKS.md).
"""

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

SCHEDULER_WORKFLOW = "SchedulerWorkflow"
SCHEDULER_ID_PREFIX = "timekeeper-scheduler:"
# A tick is ~17 history events; continuing as new every 200 ticks keeps a run near 3,400.
TICKS_PER_RUN = 200


def scheduler_workflow_id(deployment_id: str) -> str:
    return f"{SCHEDULER_ID_PREFIX}{deployment_id}"


def runs_queue_for(task_queue: str) -> str:
    """The task queue of a deployment's minute dispatches and the runs they start, beside the
    scheduler's own (`task_queue`): a `runner` worker serves it, so a minute's burst of runs
    never saturates the process that wakes for one-time instants and runs them."""
    return f"{task_queue}-runs"


# Sent by a save whose trigger is due before the scheduler's next wake (see service.wake).
WAKE_SIGNAL = "wake"


@dataclass(frozen=True)
class SchedulerInput:
    generation: int
    deployment_id: str
    tick_seconds: int = 60
    ticks_per_run: int = TICKS_PER_RUN
    # None: tick until superseded. Tests and benchmarks bound the chain of runs.
    stop_after_ticks: int | None = None
    ticks_before: int = 0  # ticks of earlier runs of this chain (continue-as-new carries it)
    # How long before a one-time instant the scheduler wakes; the dispatch then waits for the
    # instant on the worker's own clock, so a server timer firing late under load (seconds, in
    # a burst of 1,000 runs: BENCHMARKS.md) does not make the run late. At most 30 s; a
    # deployment sets it (`one_time_lead_seconds`), and this default keeps recorded runs' lead.
    lead_ms: int = 2000
    # Where the minute's dispatch runs, and so its runs (`runs_queue_for`); None: the
    # scheduler's own queue, as in runs recorded before it.
    runs_queue: str | None = None
    # How long before each minute the scheduler wakes and hands that minute to its dispatch,
    # which starts the minute's runs ahead of it: each begins at the minute on its worker's
    # clock. At most 30 s; 0, the value of runs recorded before it: at the minute.
    minute_lead_ms: int = 0


@dataclass(frozen=True)
class SchedulerOptions:
    """How a deployment starts its scheduler, from its settings; the defaults are a plain
    scheduler's (as tests start one): `SchedulerInput`'s own one-time lead (None), no minute
    lead, and the minute's dispatches on the scheduler's own queue."""

    lead_ms: int | None = None
    minute_lead_ms: int = 0
    # The minute's dispatches and their runs go on `runs_queue_for` the task queue, which a
    # `runner` worker serves.
    separate_runs_queue: bool = False

    def input(
        self, generation: int, deployment_id: str, tick_seconds: int, task_queue: str
    ) -> SchedulerInput:
        input = SchedulerInput(
            generation=generation,
            deployment_id=deployment_id,
            tick_seconds=tick_seconds,
            runs_queue=runs_queue_for(task_queue) if self.separate_runs_queue else None,
            minute_lead_ms=self.minute_lead_ms,
        )
        return input if self.lead_ms is None else replace(input, lead_ms=self.lead_ms)


PLAIN_SCHEDULER = SchedulerOptions()


@dataclass(frozen=True)
class SchedulerOutcome:
    """Why a scheduler chain ended: "superseded" (a newer generation holds the state) or
    "stopped" (its tick bound was reached), and how many ticks the chain ran."""

    reason: str
    ticks: int


@dataclass(frozen=True)
class RegisterInput:
    generation: int
    deployment_id: str
    workflow_id: str
    run_id: str
    task_queue: str
    now: datetime


@dataclass(frozen=True)
class CheckInput:
    generation: int


@dataclass(frozen=True)
class PeekInput:
    """The "still current?" check, and the earliest instant due strictly between `after` and
    `before` (the tick's `as_of` and the next tick): a one-time trigger the scheduler must wake
    for while the tick's dispatch still runs."""

    generation: int
    after: str
    before: str


@dataclass(frozen=True)
class Peek:
    current: bool
    upcoming_at: str | None = None


@dataclass(frozen=True)
class DispatchInput:
    generation: int
    as_of: str  # UTC `YYYY-MM-DDTHH:MM:SSZ`, from the workflow's clock
    # A tick beside the minute's, still running: only instants after that tick's `as_of`.
    after: str | None = None
    # Ask "still current?" first, in the activity: the wake-up for a one-time instant then
    # waits for no local activity in a worker busy with the minute's runs.
    check: bool = False
    # The scheduler woke this long before `as_of`: act no sooner than `as_of` by this worker's
    # clock, waiting at most this long, or at a sooner instant saved meanwhile (then the
    # counters' `as_of`).
    lead_ms: int = 0


@dataclass(frozen=True)
class DispatchLimits:
    """How a tick paces its work: triggers taken per batch overall and per project, starts in
    flight at once, and how long a tick may go on taking batches before it leaves the rest to
    the next tick."""

    max_per_tick: int = 1000
    max_per_branch: int = 100
    concurrency: int = 50
    budget_seconds: float = 45.0


@dataclass
class TickCounters:
    """What one tick did; persisted in `scheduler_state.last_tick` and logged as one line.

    `branches_synced` counts project branches whose definitions were re-synced into schedule
    state (their head moved); `due` counts triggers taken this tick, in `batches` (the bounds
    pace a tick, batch after batch); `deferred` counts those still due when the tick ended
    (past its time budget), left for the next tick.
    `conflicts` counts advances lost to a concurrent user edit, which wins. `skipped_misfire`
    counts occurrences not fired: older than the misfire grace, or coalesced into a later one.
    """

    generation: int
    as_of: str
    branches_listed: int = 0
    branches_synced: int = 0
    due: int = 0
    batches: int = 0
    deferred: int = 0
    started: int = 0
    already_started: int = 0
    failed: int = 0
    advanced: int = 0
    conflicts: int = 0
    skipped_misfire: int = 0
    disabled_invalid: int = 0
    max_in_flight: int = 0
    duration_ms: int = 0
    # The earliest instant still scheduled after this tick; the workflow wakes for it when it
    # comes before the next tick (a one-time trigger at 12:00:27 fires then, not at 12:01).
    next_due_at: str | None = None
    # The earliest instant still scheduled after `as_of`: what a one-time tick that ran beside
    # the minute's wakes for next (rows at or before the minute are that tick's to advance).
    next_after_at: str | None = None
    # A checking tick (`DispatchInput.check`) that found a newer generation registered, and so
    # did nothing.
    superseded: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
