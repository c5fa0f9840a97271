"""The runner's activities: every read and write of the stores and the HTTP call to the agent.

Each is safe to run twice: the invocation row is keyed by workflow id, attempts by
(invocation, number), and closing an invocation never reopens or rewrites a terminal one.
Database work is synchronous (the worker's thread pool runs these methods) except in `deliver`,
which is async for httpx and hands its short DB calls to a thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import datetime, timedelta
from itertools import cycle
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from alerts.events import ended_event
from manage_db.agents import AgentRow, read_agent_at
from manage_db.branches import project_branch
from manage_db.ids import check_id
from manage_db.store import ManageStore
from manage_db.timestamps import from_db, utc_now
from manage_db.triggers import TriggerRow, read_trigger_at
from runner.agents import DeliveryRequest, DeliveryResult, deliver
from runner.backoff import worst_case_seconds
from runner.contract import WORKER_CLOCK_WAIT, RunnerInput
from runner.decisions import Refusal, Wait, decide, delivery_of, refused_attempt
from runner.models import (
    AttemptOutcome,
    AttemptRecord,
    Began,
    BeginInput,
    DeliverInput,
    Delivery,
    Finished,
    FinishInput,
    Plan,
)
from runner.templates import (
    MAX_MESSAGE_BYTES,
)
from runner.threads import in_thread
from runner.verdicts import after_attempt
from runtime_db.alerts import enqueue
from runtime_db.invocations import (
    TERMINAL_STATUSES,
    InvocationKey,
    attempt_blocker,
    close_invocation,
    finish,
    lock_trigger,
    mark_running,
    mark_waiting,
    open_invocation,
    record_attempt,
    recorded_attempt,
    request_cancel,
    running_invocation,
)
from runtime_db.models import Invocation, InvocationAttempt
from telemetry.metrics import DELIVERY_ATTEMPTS, DELIVERY_SECONDS, FIRE_LAG, INVOCATIONS

log = logging.getLogger(__name__)


def invocation_key(run: RunnerInput) -> InvocationKey:
    """The row's key; a malformed input never becomes valid, so it fails the run at once
    instead of being retried forever."""
    try:
        for name in ("tenant_id", "project_id", "agent_id", "trigger_id"):
            check_id(name, getattr(run, name))
        scheduled_for = from_db(run.scheduled_for)
    except ValueError as exc:
        raise ApplicationError(f"malformed runner input: {exc}", non_retryable=True) from exc
    if scheduled_for is None:
        raise ApplicationError("malformed runner input: no scheduled_for", non_retryable=True)
    return InvocationKey(
        tenant_id=run.tenant_id,
        project_id=run.project_id,
        agent_id=run.agent_id,
        trigger_id=run.trigger_id,
        scheduled_for=scheduled_for,
        kind=run.kind,
    )


class RunnerActivities:
    def __init__(
        self,
        store: ManageStore,
        session_factory: sessionmaker[Session],
        http: httpx.AsyncClient | Sequence[httpx.AsyncClient],
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        clock: Callable[[], datetime] = utc_now,
        executor: Executor | None = None,
    ) -> None:
        """`http` is one client or several, each attempt taking the next (`agent_clients`);
        `clock` is the worker's, which a run started ahead waits on for its instant;
        `executor` runs the store calls of the async activities (None: the loop's default pool,
        which the runs of a minute's burst share)."""
        self._clock = clock
        self._executor = executor
        self._store = store
        self._sessions = session_factory
        self._clients = cycle((http,) if isinstance(http, httpx.AsyncClient) else tuple(http))
        self._max_message_bytes = max_message_bytes

    def callables(self) -> list[Callable[..., Any]]:
        """The bound activity methods, as a Worker's `activities=` wants them."""
        return [
            self.begin_invocation,
            self.begin_and_deliver,
            self.deliver,
            self.record_attempt,
            self.finish_invocation,
        ]

    @activity.defn(name="runner.begin_invocation")
    def begin_invocation(self, input: BeginInput) -> Plan:
        """Create (or find) the invocation row and decide: deliver, skip or fail.

        The definitions are read from the project branch head, not from the dispatcher's copy,
        so an edit made after dispatch (disable, delete, new template) is what this run obeys.
        """
        run = input.run
        key = invocation_key(run)
        trigger, agent = self._definitions(run)
        with self._sessions.begin() as session:
            if trigger is not None and trigger.overlap_policy != "allow":
                # Only the policies that look at the trigger's other runs need begins serialised.
                lock_trigger(session, key)
            row = open_invocation(session, key, workflow_id=input.workflow_id)
            if row.status in TERMINAL_STATUSES:
                return Plan(str(row.id), row.status, row.status_reason)
            decision = decide(session, run, key, row, trigger, agent, self._max_message_bytes)
            if isinstance(decision, Wait):
                reason = f"invocation {decision.running} still running"
                mark_waiting(session, row.id, reason)
                return Plan(str(row.id), "waiting", reason)
            if isinstance(decision, Refusal):
                if decision.error_class is not None:
                    record_attempt(session, refused_attempt(row.id, input.now, decision))
                closed = finish(
                    session, row.id, status=decision.status, reason=decision.reason, now=input.now
                )
                assert closed is not None
                _ended(session, closed, input.now)
                return Plan(str(row.id), closed.status, closed.status_reason)
            settings = decision.trigger
            worst_case = worst_case_seconds(
                settings.max_retries, settings.retry_delay_seconds, settings.timeout_seconds
            )
            running = mark_running(
                session,
                row,
                now=input.now,
                message=decision.message,
                trigger_version=settings.version,
                max_attempts=settings.max_retries + 1,
                deadline_at=input.now + timedelta(seconds=worst_case),
            )
            replaced = (
                _replace_running(session, key, row.id, input.now)
                if settings.overlap_policy == "cancel_running"
                else None
            )
            return Plan(
                str(row.id),
                "running",
                delivery=delivery_of(run, decision, running),
                cancelled_workflow_id=replaced,
            )

    @activity.defn(name="runner.begin_and_deliver")
    async def begin_and_deliver(self, input: BeginInput) -> Began:
        """Begin and, when the plan is to deliver, make the first attempt in the same local
        activity, closing the invocation with the attempt's row when that attempt ends it: a run
        whose first attempt settles it is one activity and two transactions (begin's, then the
        attempt's with the close), not three activities and four (BENCHMARKS.md). The order is
        begin's: the invocation is `running`, committed, before anything is sent.

        Once an attempt may have been sent nothing is raised (the workflow could not tell how
        far it got): a failure there comes back as `lost`, for the workflow to record.
        """
        input = await self._until_fire_at(input)
        plan = await in_thread(self._executor, self.begin_invocation, input)
        delivery = plan.delivery
        if delivery is None or plan.cancelled_workflow_id is not None:
            return Began(plan)
        attempt = DeliverInput(delivery, delivery.first_attempt, at=input.now)
        try:
            # No check before this attempt: begin just found the row open, and numbered the attempt
            # after those recorded (a replayed begin does not send a recorded attempt again).
            outcome, finished = await self._attempt(attempt, None, None, close_at=input.now)
        except Exception as exc:
            log.exception("first attempt of invocation %s lost", delivery.invocation_id)
            first_line = (str(exc).splitlines() or [""])[0]  # not the statement and its values
            return Began(plan, lost=f"{type(exc).__name__}: {first_line}")
        return Began(plan, first=outcome, finished=finished)

    @activity.defn(name="runner.deliver")
    async def deliver(self, input: DeliverInput) -> AttemptOutcome:
        """One attempt, recorded as a row; none is made once the invocation is cancelled.

        Temporal does not retry this activity: the workflow owns retries so that each attempt
        is recorded and spaced by the trigger's own backoff. An attempt already recorded is
        not sent again: a run replayed after its worker died between recording the attempt and
        completing the workflow task takes the recorded outcome.
        """
        before = await in_thread(
            self._executor,
            self._before_attempt,
            uuid.UUID(input.delivery.invocation_id),
            input.attempt,
        )
        outcome, _ = await self._attempt(input, *before, close_at=None)
        return outcome

    @activity.defn(name="runner.record_attempt")
    def record_attempt(self, input: AttemptRecord) -> None:
        """Record an attempt whose deliver activity was lost (idempotent per attempt number)."""
        self._record(
            InvocationAttempt(
                invocation_id=uuid.UUID(input.invocation_id),
                attempt_number=input.attempt,
                status="failed",
                http_status=None,
                started_at=input.started_at,
                duration_ms=input.duration_ms,
                error_class=input.error_class,
                error_message=input.error_message,
                response_excerpt=None,
            )
        )

    @activity.defn(name="runner.finish_invocation")
    def finish_invocation(self, input: FinishInput) -> Finished:
        with self._sessions.begin() as session:
            return _close(session, input)

    async def _until_fire_at(self, input: BeginInput) -> BeginInput:
        """A run started ahead of its instant waits for it here, on this worker's clock: no timer
        at a busy server stands between the instant and the request. It waits `WORKER_CLOCK_WAIT`
        at most (a worker clock behind the server's delays it no longer), and begins as of the
        moment it woke."""
        fire_at = from_db(input.run.fire_at)
        if not input.run.started_ahead or fire_at is None:
            return input
        wait = min((fire_at - self._clock()).total_seconds(), WORKER_CLOCK_WAIT.total_seconds())
        if wait > 0:
            await asyncio.sleep(wait)
        return dataclasses.replace(input, now=max(input.now, self._clock()))

    def _definitions(self, run: RunnerInput) -> tuple[TriggerRow | None, AgentRow | None]:
        branch = project_branch(run.tenant_id, run.project_id)
        with self._store.read_at() as conn:
            trigger = read_trigger_at(conn, branch, run.trigger_id)
            agent = read_agent_at(conn, branch, run.agent_id)
        if trigger is not None and trigger.agent_id != run.agent_id:
            trigger = None
        return trigger, agent

    def _before_attempt(
        self, invocation_id: uuid.UUID, attempt_number: int
    ) -> tuple[str | None, InvocationAttempt | None]:
        """Why no attempt may start, and the attempt already recorded under this number."""
        with self._sessions() as session:
            return (
                attempt_blocker(session, invocation_id),
                recorded_attempt(session, invocation_id, attempt_number),
            )

    def _record(self, attempt: InvocationAttempt) -> None:
        self._record_and_close(attempt, None)

    def _record_and_close(
        self, attempt: InvocationAttempt, close: FinishInput | None
    ) -> Finished | None:
        """The attempt's row and, when it ended the invocation, the close: one transaction."""
        with self._sessions.begin() as session:
            if close is None:
                record_attempt(session, attempt)
                return None
            return _close(session, close, attempt)

    async def _attempt(
        self,
        input: DeliverInput,
        blocker: str | None,
        recorded: InvocationAttempt | None,
        *,
        close_at: datetime | None,
    ) -> tuple[AttemptOutcome, Finished | None]:
        """Send one attempt and record it; with `close_at`, also close the invocation in the
        attempt's transaction when this attempt ends it."""
        if blocker is not None:
            return AttemptOutcome(ok=False, retryable=False, blocked_by=blocker), None
        if recorded is not None:
            return _recorded_outcome(recorded), None
        started_at = input.at or activity.info().started_time
        result = await deliver(next(self._clients), _delivery_request(input))
        outcome = AttemptOutcome(
            ok=result.ok,
            retryable=result.retryable,
            http_status=result.http_status,
            error_class=result.error_class,
            error_message=result.error_message,
            retry_after_seconds=result.retry_after_seconds,
        )
        delivery = input.delivery
        close = None
        if close_at is not None:
            last = delivery.first_attempt + delivery.max_retries
            end = after_attempt(outcome, input.attempt, last, made=1)
            if end is not None:
                close = FinishInput(delivery.invocation_id, end[0], end[1], now=close_at)
        row = _attempt_row(uuid.UUID(delivery.invocation_id), input, started_at, result)
        # Observed before the record: the attempt was made, and a failed one is logged before
        # the close that may log the invocation's failure.
        _observe_attempt(input, started_at, result)
        finished = await in_thread(self._executor, self._record_and_close, row, close)
        return outcome, finished


def _close(
    session: Session, input: FinishInput, attempt: InvocationAttempt | None = None
) -> Finished:
    """Close the invocation unless it is closed already (a cancel that landed first is kept),
    recording `attempt`, the one that ended it, on the same locked row."""
    row, closed = close_invocation(
        session,
        uuid.UUID(input.invocation_id),
        status=input.status,
        reason=input.reason,
        now=input.now,
        attempt=attempt,
    )
    if row is None:
        raise ApplicationError(f"invocation {input.invocation_id} is gone", non_retryable=True)
    if closed:
        _ended(session, row, input.now)
    return Finished(row.status, row.status_reason)


def _recorded_outcome(recorded: InvocationAttempt) -> AttemptOutcome:
    return AttemptOutcome(
        ok=recorded.status == "succeeded",
        retryable=True,
        http_status=recorded.http_status,
        error_class=recorded.error_class,
        error_message=recorded.error_message,
    )


def _replace_running(
    session: Session, key: InvocationKey, starting: uuid.UUID, now: datetime
) -> str | None:
    """cancel_running: the running invocation of the trigger is cancelled for the one starting;
    the workflow id of the one cancelled, so the new run can wake it."""
    other = running_invocation(session, key, exclude=starting)
    if other is None:
        return None
    row, changed = request_cancel(
        session, other, reason=f"overlap: replaced by invocation {starting}", now=now
    )
    if row is None or not changed:
        return None
    _ended(session, row, now)
    return row.workflow_id


def _delivery_request(input: DeliverInput) -> DeliveryRequest:
    fields = {f.name: getattr(input.delivery, f.name) for f in dataclasses.fields(Delivery)}
    return DeliveryRequest(**fields, attempt=input.attempt)


def _observe_attempt(input: DeliverInput, started_at: datetime, result: DeliveryResult) -> None:
    """Metrics of one attempt, and the log line a failed one owes the operator."""
    DELIVERY_ATTEMPTS.labels(outcome="succeeded" if result.ok else result.error_class).inc()
    DELIVERY_SECONDS.observe(result.duration_ms / 1000)
    delivery = input.delivery
    if input.attempt == delivery.first_attempt == 1:
        nominal = from_db(delivery.scheduled_for)
        if nominal is not None:
            FIRE_LAG.observe(max((started_at - nominal).total_seconds(), 0.0))
    if not result.ok:
        fields = {
            "tenant": delivery.tenant_id,
            "project": delivery.project_id,
            "agent": delivery.agent_id,
            "trigger": delivery.trigger_id,
            "invocation": delivery.invocation_id,
            "attempt": input.attempt,
            "error": f"{result.error_class}: {result.error_message}",
        }
        log.warning("delivery attempt failed", extra={"fields": fields})


def _ended(session: Session, row: Invocation, now: datetime) -> None:
    """An invocation this process just closed: counted, its alert (a final failure, an overlap
    skip) written in the same transaction, and a final failure logged."""
    INVOCATIONS.labels(status=row.status).inc()
    event = ended_event(row, now)
    if event is not None:
        enqueue(session, [event], now)
    if row.status == "failed":
        fields = {
            "tenant": row.tenant_id,
            "project": row.project_id,
            "agent": row.agent_id,
            "trigger": row.trigger_id,
            "invocation": str(row.id),
            "attempts": row.attempt_count,
            "reason": row.status_reason,
        }
        log.error("invocation failed", extra={"fields": fields})


def _attempt_row(
    invocation_id: uuid.UUID, input: DeliverInput, started_at: datetime, result: DeliveryResult
) -> InvocationAttempt:
    return InvocationAttempt(
        invocation_id=invocation_id,
        attempt_number=input.attempt,
        status="succeeded" if result.ok else "failed",
        http_status=result.http_status,
        started_at=started_at,
        duration_ms=result.duration_ms,
        error_class=result.error_class,
        error_message=result.error_message,
        response_excerpt=result.response_excerpt,
    )
