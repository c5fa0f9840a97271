"""Planning one due trigger in a tick: which occurrences fire, which are recorded missed or
skipped, where its schedule moves next, and whether it has completed. Pure: no store, no clock;
`dispatcher.activities` records and starts what a plan says."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from alerts.events import trigger_disabled
from manage_db.branches import project_branch
from manage_db.jitter import fire_at as jittered
from manage_db.jitter import jitter_key
from manage_db.next_run import (
    BEYOND_GRACE,
    SKIPPED,
    InvalidSchedule,
    Missed,
    Schedule,
    decide_due,
)
from manage_db.timestamps import from_db, instants_of, to_db
from runner.contract import (
    CURRENT_STEPS,
    RunnerInput,
    runner_workflow_id,
    scheduled_slot,
    workflow_id_for,
)
from runtime_db.alerts import AlertEvent
from runtime_db.invocations import InvocationKey
from runtime_db.schedules import DueSchedule

log = logging.getLogger(__name__)

# Rows recorded per trigger and dispatch for occurrences not fired (an outage of a per-minute
# trigger would otherwise write a row for every minute it lasted).
MISSED_ROWS_PER_TRIGGER = 60

UnfiredRow = tuple[InvocationKey, str, str]


@dataclass(frozen=True)
class Plan:
    """What this tick does with one due trigger: start a run (or not), then how to advance it."""

    due: DueSchedule
    run: RunnerInput | None  # None: nothing to start (all missed beyond grace, or invalid)
    next_run_at: datetime | None
    invalid: str | None = None  # why the stored definition cannot be fired
    missed: int = 0  # occurrences not fired: older than the grace, or coalesced
    missed_at: tuple[Missed, ...] = ()  # those of them listed one by one, with the reason
    earlier: tuple[RunnerInput, ...] = ()  # with catchup "all": occurrences before `run`
    completed: str | None = None  # why nothing is left to fire after this dispatch

    @property
    def runs(self) -> tuple[RunnerInput, ...]:
        """Every run to start, oldest first."""
        return (*self.earlier, self.run) if self.run is not None else ()

    @property
    def branch(self) -> str:
        return f"{self.due.tenant_id}/{self.due.project_id}/main"


def started_ahead(plan: Plan, now: datetime) -> Plan:
    """The plan with each run whose fire instant (its jittered `fire_at`, or the instant itself)
    is after `now` marked `started_ahead` with that instant as `fire_at`: its begin waits for
    it on the worker's clock."""
    if plan.run is None:
        return plan

    def ahead(run: RunnerInput) -> RunnerInput:
        fire = run.fire_at or run.scheduled_for
        if (from_db(fire) or now) <= now:
            return run
        return replace(run, fire_at=fire, started_ahead=True)

    return replace(plan, run=ahead(plan.run), earlier=tuple(ahead(run) for run in plan.earlier))


def disabled_event(due: DueSchedule, reason: str, as_of: datetime) -> AlertEvent:
    return trigger_disabled(
        due.tenant_id,
        due.project_id,
        due.agent_id,
        due.trigger_id,
        due.definition_version,
        reason,
        as_of,
    )


def missed_rows(plan: Plan, as_of: datetime) -> list[UnfiredRow]:
    """The `missed` invocations of a plan: a loss is recorded, never silent. After a long outage
    only the latest `MISSED_ROWS_PER_TRIGGER` occurrences get a row each; all are counted."""
    due = plan.due
    rows = []
    listed = [m for m in plan.missed_at if m.reason != SKIPPED][-MISSED_ROWS_PER_TRIGGER:]
    if plan.missed > len(listed):
        log.warning(
            "trigger %s/%s/%s missed %d occurrences; the latest %d are recorded",
            due.tenant_id,
            due.project_id,
            due.trigger_id,
            plan.missed,
            len(listed),
        )
    for missed in listed:
        if missed.reason == BEYOND_GRACE:
            reason = (
                f"missed: more than the misfire grace ({due.misfire_grace_seconds} s) late when"
                f" the scheduler reached it at {to_db(as_of)}"
            )
        elif plan.run is not None:
            reason = f"missed: coalesced into the run for {plan.run.scheduled_for}"
        else:
            reason = "missed: coalesced"
        rows.append(_unfired(due, missed.instant, reason))
    return rows


def skipped_rows(plan: Plan) -> list[UnfiredRow]:
    """Occurrences a user marked not to fire: recorded `skipped`, so each instant has a row."""
    return [
        _unfired(plan.due, m.instant, "skipped: marked not to fire")
        for m in plan.missed_at
        if m.reason == SKIPPED
    ]


def unfired_row(
    tenant_id: str, project_id: str, agent_id: str, trigger_id: str, instant: datetime, reason: str
) -> UnfiredRow:
    """The row of an occurrence not fired: its invocation key, the runner workflow id it would
    have had (so a later start of it is refused), and why (`record_missed`'s row)."""
    key = InvocationKey(tenant_id, project_id, agent_id, trigger_id, instant, "scheduled")
    slot = scheduled_slot(instant)
    return key, runner_workflow_id(tenant_id, project_id, agent_id, trigger_id, slot), reason


def _unfired(due: DueSchedule, instant: datetime, reason: str) -> UnfiredRow:
    return unfired_row(due.tenant_id, due.project_id, due.agent_id, due.trigger_id, instant, reason)


def _limited(due: DueSchedule, fires: tuple[datetime, ...]) -> tuple[tuple[datetime, ...], bool]:
    """The fires `max_runs` still allows (oldest first), and whether the limit is then reached."""
    if due.max_runs is None:
        return fires, False
    left = max(due.max_runs - due.run_count, 0)
    return fires[:left], due.run_count + min(len(fires), left) >= due.max_runs


def _completion(
    due: DueSchedule, fires: tuple[datetime, ...], following: datetime | None, limited: bool
) -> str | None:
    if limited:
        return f"max_runs ({due.max_runs}) reached"
    if following is not None:
        return None
    if due.run_at is not None:
        if fires:
            return f"fired once, at {to_db(due.run_at)}"
        return f"its one-time instant {to_db(due.run_at)} passed without a run"
    if due.end_at is not None:
        return f"end_at {to_db(due.end_at)} passed"
    return None


def plan_of(due: DueSchedule, as_of: datetime) -> Plan:
    """Misfire grace and coalescing decide the instant (if any) to fire and the next one.

    A stored definition the math or the id rules refuse (written around the API, or valid
    under older rules) is never fired: its schedule row is held with the reason.
    """
    try:
        project_branch(due.tenant_id, due.project_id)
        schedule = Schedule(
            cron_expression=due.cron_expression,
            cron_timezone=due.cron_timezone,
            run_at=due.run_at,
        )
        decision = decide_due(
            schedule,
            due.next_run_at,
            as_of,
            due.misfire_grace_seconds,
            due.catchup,
            end_at=due.end_at,
            skipped=instants_of(due.skipped or ()),
        )
        fires, limited = _limited(due, decision.fires)
        following = None if limited else decision.next_run_at
        runs = tuple(_run(due, instant) for instant in fires)
        for each in runs:
            workflow_id_for(each)  # validates the ids a workflow id is made of
        run = runs[-1] if runs else None
    except InvalidSchedule as exc:
        reason = f"invalid schedule ({exc.field}: {exc.message})"
        return Plan(due, None, None, invalid=reason)
    except ValueError as exc:
        return Plan(due, None, None, invalid=f"invalid trigger ({exc})")
    return Plan(
        due,
        run,
        following,
        missed=decision.missed,
        missed_at=decision.missed_at,
        earlier=runs[:-1],
        completed=_completion(due, fires, following, limited),
    )


def _run(due: DueSchedule, instant: datetime) -> RunnerInput:
    return RunnerInput(
        tenant_id=due.tenant_id,
        project_id=due.project_id,
        agent_id=due.agent_id,
        trigger_id=due.trigger_id,
        scheduled_for=to_db(instant),
        kind="scheduled",
        slot=scheduled_slot(instant),
        trigger_version=due.definition_version,
        fire_at=_fire_at(due, instant) if due.jitter_seconds else None,
        steps=CURRENT_STEPS,
    )


def _fire_at(due: DueSchedule, instant: datetime) -> str:
    key = jitter_key(due.tenant_id, due.project_id, due.trigger_id)
    return to_db(jittered(key, instant, due.jitter_seconds))
