"""RunnerWorkflow: one invocation of one trigger, from begin to a terminal status.

Thin and deterministic: every decision that needs a store or the network is an activity; this
code orders them, owns the retries (so each attempt is recorded), sleeps between attempts and
listens for the cancel signal. Time comes from `workflow.now()`, jitter from `workflow.random()`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from manage_db.timestamps import from_db
    from runner.activities import RunnerActivities
    from runner.backoff import DELIVERY_MARGIN_SECONDS, retry_delay
    from runner.contract import RUNNER_WORKFLOW, WORKER_CLOCK_WAIT, RunnerInput
    from runner.models import (
        CANCEL_SIGNAL,
        AttemptOutcome,
        AttemptRecord,
        Began,
        BeginInput,
        DeliverInput,
        Delivery,
        Finished,
        FinishInput,
        Plan,
        RunnerOutcome,
    )
    from runner.verdicts import after_attempt

# Store activities are idempotent: retry them through a store outage, but not forever, so a
# run always ends (after about an hour of a store that does not answer, the workflow fails and
# the audit closes its invocation as stale). Each takes milliseconds; a short timeout means one
# lost with a crashed worker is retried on a live one within seconds, not a minute.
_STORE_TIMEOUT = timedelta(seconds=10)
_STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=70,
)
# Begin and finish run as local activities (in the workflow task that needs them: two fewer
# round trips through the server per run). Runs started before this change keep their
# recorded regular activities: the patch marker tells them apart on replay.
_LOCAL_STORE_STEPS = "local-store-steps"
# The delivery runs as a local activity too (patch `local-delivery`): a run is then one
# workflow task and no activity task, so the minute's burst costs the server a third of the
# round trips. Temporal still never retries it: the loop below does, recording every attempt.
_LOCAL_DELIVERY = "local-delivery"
# Begin makes the first attempt too, in the same local activity (patch `first-attempt-in-begin`),
# and closes the invocation with that attempt's row when it settles the run: a run that succeeds
# first time is one local activity.
_FIRST_ATTEMPT_IN_BEGIN = "first-attempt-in-begin"
# Its timeout covers begin, the longest per-attempt timeout a trigger may have (900 s) and the
# attempt's record.
_BEGIN_AND_DELIVER_TIMEOUT = timedelta(seconds=2 * 10 + 900 + DELIVERY_MARGIN_SECONDS)
# How often a run buffered behind a running one (buffer_one) looks again.
_WAIT_POLL = timedelta(seconds=5)
# Delivery is never retried by Temporal: the loop below does it, recording every attempt.
_DELIVER_ONCE = RetryPolicy(maximum_attempts=1)


# Not sandboxed: this module is thin and deterministic (time from workflow.now(), randomness from
# workflow.random(), inputs and models passed through), and the sandbox's per-run module
# isolation was most of a run's workflow-task time under load (see BENCHMARKS.md).
@workflow.defn(name=RUNNER_WORKFLOW, sandboxed=False)
class RunnerWorkflow:
    def __init__(self) -> None:
        self._cancel_requested = False
        self._steps = 0

    def _takes(self, patch: str) -> bool:
        """Whether this run takes the change behind `patch`: every run started with `steps` 1
        does, without a marker; an older run does when its history says so. (A patch costs
        every new run a marker and an upsert of the TemporalChangeVersion search attribute, a
        visibility write at the server.)"""
        return self._steps >= 1 or workflow.patched(patch)

    async def _until_fire_at(self, run: RunnerInput) -> None:
        """A jittered occurrence waits for its offset (a cancel ends the wait early; begin then
        finds the invocation cancelled). A run started ahead leaves the last `WORKER_CLOCK_WAIT`
        of it to its begin, which waits on the worker's clock."""
        fire_at = from_db(run.fire_at)
        if fire_at is not None and run.started_ahead:
            fire_at -= WORKER_CLOCK_WAIT
        if fire_at is None or fire_at <= workflow.now():
            return
        with suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._cancel_requested, timeout=fire_at - workflow.now()
            )

    @workflow.signal(name=CANCEL_SIGNAL)
    def cancel(self) -> None:
        """The cancel endpoint already marked the row; this only cuts a backoff sleep short."""
        self._cancel_requested = True

    @workflow.run
    async def run(self, run: RunnerInput) -> RunnerOutcome:
        self._steps = run.steps
        await self._until_fire_at(run)
        began = await self._begin(run)
        while began.plan.status == "waiting":  # a cancel marks the row first: begin then ends it
            # buffer_one: this run waits its turn; begin again until the running one has ended.
            with suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._cancel_requested, timeout=_WAIT_POLL)
            began = await self._begin(run)
        plan = began.plan
        if plan.cancelled_workflow_id is not None:
            await workflow.get_external_workflow_handle(plan.cancelled_workflow_id).signal(
                CANCEL_SIGNAL
            )
        if plan.delivery is None:
            return RunnerOutcome(plan.invocation_id, plan.status, plan.reason, attempts=0)
        if began.finished is not None:  # the first attempt settled it, and closed the row
            return RunnerOutcome(
                plan.invocation_id, began.finished.status, began.finished.reason, attempts=1
            )
        first = began.first
        if began.lost is not None:
            lost = _Lost(plan.delivery, plan.delivery.first_attempt, workflow.now())
            first = await self._lost(lost, "worker_error", began.lost)
        status, reason, attempts = await self._attempts(plan.delivery, first)
        finished = await self._finish(
            FinishInput(plan.invocation_id, status, reason, now=workflow.now())
        )
        return RunnerOutcome(plan.invocation_id, finished.status, finished.reason, attempts)

    async def _begin(self, run: RunnerInput) -> Began:
        begin = BeginInput(run=run, workflow_id=workflow.info().workflow_id, now=workflow.now())
        if self._takes(_FIRST_ATTEMPT_IN_BEGIN):
            return await self._begin_and_deliver(begin)
        local = self._takes(_LOCAL_STORE_STEPS)
        plan: Plan = await _step(local, RunnerActivities.begin_invocation, begin, _STORE_TIMEOUT)
        return Began(plan)

    async def _begin_and_deliver(self, begin: BeginInput) -> Began:
        """Temporal never retries it (an attempt may have been sent): when it fails, begin runs
        again on its own, with the store's retries, and a timeout counts as a lost attempt."""
        try:
            began: Began = await workflow.execute_local_activity_method(
                RunnerActivities.begin_and_deliver,
                begin,
                start_to_close_timeout=_BEGIN_AND_DELIVER_TIMEOUT,
                retry_policy=_DELIVER_ONCE,
            )
            return began
        except ActivityError as exc:
            plan: Plan = await _step(True, RunnerActivities.begin_invocation, begin, _STORE_TIMEOUT)
            if plan.delivery is None or not isinstance(exc.cause, ActivityTimeout):
                return Began(plan)
            lost = _Lost(plan.delivery, plan.delivery.first_attempt, begin.now)
            return Began(plan, first=await self._lost(lost, "worker_timeout", str(exc.cause)))

    async def _finish(self, finish: FinishInput) -> Finished:
        local = self._takes(_LOCAL_STORE_STEPS)
        done: Finished = await _step(
            local, RunnerActivities.finish_invocation, finish, _STORE_TIMEOUT
        )
        return done

    async def _attempts(
        self, delivery: Delivery, first: AttemptOutcome | None = None
    ) -> tuple[str, str | None, int]:
        """Attempt until success, a non-retryable failure, the retry budget, or a cancel;
        `first` is the outcome of the first attempt when `begin_and_deliver` made it."""
        last = delivery.first_attempt + delivery.max_retries
        made = 0
        attempt = delivery.first_attempt
        outcome = first
        while True:
            if outcome is None:
                if self._cancel_requested:
                    return "cancelled", "cancel requested", made
                outcome = await self._deliver(delivery, attempt)
            if outcome.blocked_by is not None:
                # The row is closed already (a cancel, or the audit); finishing keeps its status.
                return "cancelled", f"stopped before attempt {attempt}", made
            made += 1
            end = after_attempt(outcome, attempt, last, made)
            if end is not None:
                return end[0], end[1], made
            delay = retry_delay(
                delivery.retry_delay_seconds,
                attempt - delivery.first_attempt + 1,
                workflow.random().random(),
                outcome.retry_after_seconds,
            )
            with suppress(TimeoutError):  # the wait ran out: time for the next attempt
                await workflow.wait_condition(
                    lambda: self._cancel_requested, timeout=timedelta(seconds=delay)
                )
            attempt += 1
            outcome = None

    async def _deliver(self, delivery: Delivery, attempt: int) -> AttemptOutcome:
        scheduled = workflow.now()
        local = self._takes(_LOCAL_DELIVERY)
        timeout = timedelta(seconds=delivery.timeout_seconds + DELIVERY_MARGIN_SECONDS)
        try:
            outcome: AttemptOutcome = await _step(
                local,
                RunnerActivities.deliver,
                DeliverInput(delivery, attempt, at=scheduled),
                timeout,
                _DELIVER_ONCE,
            )
            return outcome
        except ActivityError as exc:
            lost = isinstance(exc.cause, ActivityTimeout)
            error_class = "worker_timeout" if lost else "worker_error"
            return await self._lost(
                _Lost(delivery, attempt, scheduled, local), error_class, str(exc.cause or exc)
            )

    async def _lost(self, lost: _Lost, error_class: str, message: str) -> AttemptOutcome:
        """An attempt that never reported back is recorded as failed, and retried."""
        record = AttemptRecord(
            lost.delivery.invocation_id,
            lost.attempt,
            started_at=lost.scheduled,
            duration_ms=int((workflow.now() - lost.scheduled).total_seconds() * 1000),
            error_class=error_class,
            error_message=message,
        )
        await _step(lost.local, RunnerActivities.record_attempt, record, _STORE_TIMEOUT)
        return AttemptOutcome(
            ok=False, retryable=True, error_class=error_class, error_message=message
        )


@dataclass(frozen=True)
class _Lost:
    """An attempt whose activity failed inside the worker: which, since when, and whether its
    record goes through a local activity (as every step does since `local-delivery`)."""

    delivery: Delivery
    attempt: int
    scheduled: datetime
    local: bool = True


async def _step(
    local: bool,
    method: Callable[..., Any],
    arg: Any,
    timeout: timedelta,
    retry: RetryPolicy = _STORE_RETRY,
) -> Any:
    """One activity, run locally (inside the workflow task) or through the server: which one
    is decided by a patch, so runs recorded either way replay."""
    if local:
        return await workflow.execute_local_activity_method(
            method, arg, start_to_close_timeout=timeout, retry_policy=retry
        )
    return await workflow.execute_activity_method(
        method, arg, start_to_close_timeout=timeout, retry_policy=retry
    )
