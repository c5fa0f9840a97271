"""RunnerWorkflow: one invocation of one trigger, from begin to a terminal status.

Thin and deterministic: every decision that needs a store or the network is an activity; this
code orders them, owns the retries (so each attempt is recorded), sleeps between attempts and
listens for the cancel signal. Time comes from `workflow.now()`, jitter from `workflow.random()`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from manage_db.timestamps import from_db
    from runner.activities import RunnerActivities
    from runner.backoff import DELIVERY_MARGIN_SECONDS, retry_delay
    from runner.contract import RUNNER_WORKFLOW, RunnerInput
    from runner.models import (
        CANCEL_SIGNAL,
        AttemptOutcome,
        AttemptRecord,
        BeginInput,
        DeliverInput,
        Delivery,
        Finished,
        FinishInput,
        Plan,
        RunnerOutcome,
    )

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

    async def _until_fire_at(self, run: RunnerInput) -> None:
        """A jittered occurrence waits for its offset (a cancel ends the wait early; begin then
        finds the invocation cancelled)."""
        fire_at = from_db(run.fire_at)
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
        await self._until_fire_at(run)
        plan = await self._begin(run)
        while plan.status == "waiting":  # a cancel marks the row first: begin then ends it
            # buffer_one: this run waits its turn; begin again until the running one has ended.
            with suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._cancel_requested, timeout=_WAIT_POLL)
            plan = await self._begin(run)
        if plan.cancelled_workflow_id is not None:
            await workflow.get_external_workflow_handle(plan.cancelled_workflow_id).signal(
                CANCEL_SIGNAL
            )
        if plan.delivery is None:
            return RunnerOutcome(plan.invocation_id, plan.status, plan.reason, attempts=0)
        status, reason, attempts = await self._attempts(plan.delivery)
        finished = await self._finish(
            FinishInput(plan.invocation_id, status, reason, now=workflow.now())
        )
        return RunnerOutcome(plan.invocation_id, finished.status, finished.reason, attempts)

    async def _begin(self, run: RunnerInput) -> Plan:
        begin = BeginInput(run=run, workflow_id=workflow.info().workflow_id, now=workflow.now())
        local = workflow.patched(_LOCAL_STORE_STEPS)
        plan: Plan = await _step(local, RunnerActivities.begin_invocation, begin, _STORE_TIMEOUT)
        return plan

    async def _finish(self, finish: FinishInput) -> Finished:
        local = workflow.patched(_LOCAL_STORE_STEPS)
        done: Finished = await _step(
            local, RunnerActivities.finish_invocation, finish, _STORE_TIMEOUT
        )
        return done

    async def _attempts(self, delivery: Delivery) -> tuple[str, str | None, int]:
        """Attempt until success, a non-retryable failure, the retry budget, or a cancel."""
        last = delivery.first_attempt + delivery.max_retries
        made = 0
        attempt = delivery.first_attempt
        while True:
            if self._cancel_requested:
                return "cancelled", "cancel requested", made
            outcome = await self._deliver(delivery, attempt)
            if outcome.blocked_by is not None:
                # The row is closed already (a cancel, or the audit); finishing keeps its status.
                return "cancelled", f"stopped before attempt {attempt}", made
            made += 1
            if outcome.ok:
                return "completed", None, made
            failure = f"{outcome.error_class}: {outcome.error_message}"
            if not outcome.retryable:
                return "failed", failure, made
            if attempt >= last:
                tries = f"{made} attempt" if made == 1 else f"{made} attempts"
                return "failed", f"gave up after {tries}; last {failure}", made
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

    async def _deliver(self, delivery: Delivery, attempt: int) -> AttemptOutcome:
        scheduled = workflow.now()
        local = workflow.patched(_LOCAL_DELIVERY)
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
            message = str(exc.cause or exc)
            record = AttemptRecord(
                delivery.invocation_id,
                attempt,
                started_at=scheduled,
                duration_ms=int((workflow.now() - scheduled).total_seconds() * 1000),
                error_class=error_class,
                error_message=message,
            )
            await _step(local, RunnerActivities.record_attempt, record, _STORE_TIMEOUT)
            return AttemptOutcome(
                ok=False, retryable=True, error_class=error_class, error_message=message
            )


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
