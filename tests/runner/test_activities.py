"""The runner's decisions, activity by activity: what begins, what is skipped or failed and why,
and that each activity can run twice without doing its work twice."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import ActivityEnvironment

from manage_db.store import ManageStore
from runner.activities import RunnerActivities
from runner.backoff import worst_case_seconds
from runner.contract import RunnerInput
from runner.models import AttemptOutcome, AttemptRecord, BeginInput, DeliverInput, FinishInput
from runtime_db.invocations import InvocationKey, create_invocation, request_cancel
from tests.runner.conftest import ScriptedAgent
from tests.runner.fixtures_runner import (
    all_invocations,
    attempt_summary,
    edit_trigger,
    invocation,
    scheduled_run,
    seed,
    trigger_row,
)

NOW = datetime(2024, 3, 5, 9, 0, 2, tzinfo=UTC)


def _begin(
    store: ManageStore,
    session_factory: sessionmaker[Session],
    client: httpx.AsyncClient,
    run: RunnerInput,
) -> tuple[RunnerActivities, BeginInput]:
    activities = RunnerActivities(store, session_factory, client)
    return activities, BeginInput(run=run, workflow_id=f"wf-{run.slot}", now=NOW)


async def test_begin_creates_one_running_invocation_however_often_it_runs(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(
        manage_store,
        "http://127.0.0.1:9/hook",
        trigger_row(message_template="{{trigger.name}} at {{scheduled_for}}", max_retries=2),
    )
    activities, begin = _begin(manage_store, session_factory, client, scheduled_run(trigger))
    env = ActivityEnvironment()

    first = env.run(activities.begin_invocation, begin)
    again = env.run(activities.begin_invocation, replace(begin, now=NOW + timedelta(1)))

    assert first == again
    assert first.status == "running" and first.delivery is not None
    assert first.delivery.message == "Daily report at 2024-03-05T09:00:00Z"
    assert (first.delivery.url, first.delivery.first_attempt) == ("http://127.0.0.1:9/hook", 1)
    [row] = all_invocations(session_factory)
    assert str(row.id) == first.invocation_id
    assert (row.status, row.started_at, row.trigger_version, row.max_attempts) == (
        "running",
        NOW,
        1,
        3,
    )
    assert row.deadline_at == NOW + timedelta(seconds=worst_case_seconds(2, 60, 10))
    assert row.scheduled_for == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)


async def test_a_scheduled_run_of_a_trigger_disabled_since_dispatch_is_skipped(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(manage_store, "http://127.0.0.1:9/hook")
    edit_trigger(manage_store, trigger.id, enabled=False)
    activities, begin = _begin(manage_store, session_factory, client, scheduled_run(trigger))

    plan = ActivityEnvironment().run(activities.begin_invocation, begin)

    assert (plan.status, plan.reason, plan.delivery) == (
        "skipped",
        "trigger daily was disabled (version 2)",
        None,
    )
    [row] = all_invocations(session_factory)
    assert (row.status, row.finished_at, row.started_at) == ("skipped", NOW, None)


async def test_a_scheduled_run_of_a_trigger_rescheduled_since_dispatch_is_skipped(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(manage_store, "http://127.0.0.1:9/hook")
    edit_trigger(manage_store, trigger.id, cron_expression="0 10 * * *")
    activities, begin = _begin(manage_store, session_factory, client, scheduled_run(trigger))

    plan = ActivityEnvironment().run(activities.begin_invocation, begin)

    assert (plan.status, plan.reason, plan.delivery) == (
        "skipped",
        "schedule changed since dispatch: 2024-03-05T09:00:00Z is no longer a fire time of "
        "trigger daily (version 2)",
        None,
    )


async def test_an_edit_that_keeps_the_schedule_lets_a_dispatched_run_go(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(manage_store, "http://127.0.0.1:9/hook")
    edit_trigger(manage_store, trigger.id, name="Daily report v2", cron_expression="0 9,21 * * *")
    activities, begin = _begin(manage_store, session_factory, client, scheduled_run(trigger))

    plan = ActivityEnvironment().run(activities.begin_invocation, begin)

    assert plan.status == "running"
    assert plan.delivery is not None


async def test_a_manual_run_of_a_disabled_trigger_runs(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(manage_store, "http://127.0.0.1:9/hook", trigger_row(enabled=False))
    run = replace(scheduled_run(trigger), kind="manual", slot="manual-1", trigger_version=None)
    activities, begin = _begin(manage_store, session_factory, client, run)

    plan = ActivityEnvironment().run(activities.begin_invocation, begin)

    assert plan.status == "running"
    [row] = all_invocations(session_factory)
    assert (row.kind, row.status) == ("manual", "running")


async def test_a_deleted_trigger_is_skipped(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(manage_store, "http://127.0.0.1:9/hook")
    run = replace(scheduled_run(trigger), trigger_id="gone")
    activities, begin = _begin(manage_store, session_factory, client, run)

    plan = ActivityEnvironment().run(activities.begin_invocation, begin)

    assert (plan.status, plan.reason) == ("skipped", "trigger gone no longer exists")


async def test_a_missing_agent_fails_without_an_attempt(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(manage_store, None)
    activities, begin = _begin(manage_store, session_factory, client, scheduled_run(trigger))

    plan = ActivityEnvironment().run(activities.begin_invocation, begin)

    assert (plan.status, plan.reason) == ("failed", "agent bot not found")
    [row] = all_invocations(session_factory)
    assert (row.status, row.attempt_count) == ("failed", 0)


async def test_a_template_that_cannot_render_fails_at_once(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(
        manage_store,
        "http://127.0.0.1:9/hook",
        trigger_row(message_template="Region {{payload.region}}", payload='{"zone": "eu"}'),
    )
    activities, begin = _begin(manage_store, session_factory, client, scheduled_run(trigger))

    plan = ActivityEnvironment().run(activities.begin_invocation, begin)

    assert (plan.status, plan.reason) == (
        "failed",
        "template error: payload has no value at {{payload.region}}",
    )
    [row] = all_invocations(session_factory)
    assert (row.status, row.message) == ("failed", None)


async def test_an_invocation_cancelled_while_pending_ends_cancelled(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(manage_store, "http://127.0.0.1:9/hook")
    run = replace(scheduled_run(trigger), kind="manual", slot="manual-2", trigger_version=None)
    activities, begin = _begin(manage_store, session_factory, client, run)
    key = InvocationKey("acme", "ops", "bot", "daily", NOW, "manual")
    with session_factory.begin() as session:
        row, _ = create_invocation(session, key, workflow_id=begin.workflow_id)
        request_cancel(session, row.id, reason="cancelled by ops", now=NOW)

    plan = ActivityEnvironment().run(activities.begin_invocation, begin)

    assert (plan.invocation_id, plan.status, plan.reason) == (
        str(row.id),
        "cancelled",
        "cancelled by ops",
    )


async def test_deliver_makes_no_attempt_once_cancelled(
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    trigger = seed(manage_store, agent_url)
    activities = RunnerActivities(manage_store, session_factory, client)
    env = ActivityEnvironment()
    begin = BeginInput(run=scheduled_run(trigger), workflow_id="wf-cancel", now=NOW)
    plan = env.run(activities.begin_invocation, begin)
    assert plan.delivery is not None
    with session_factory.begin() as session:
        request_cancel(session, uuid.UUID(plan.invocation_id), reason="stop", now=NOW)

    outcome = await env.run(activities.deliver, DeliverInput(plan.delivery, 1))

    assert outcome == AttemptOutcome(ok=False, retryable=False, blocked_by="cancelled")
    assert agent.requests == []
    assert invocation(session_factory, plan.invocation_id)[1] == []


async def test_an_attempt_already_recorded_is_not_sent_again(
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    """A run replayed after its worker died between recording an attempt and completing the
    workflow task asks for the same attempt again: the agent does not get it twice."""
    trigger = seed(manage_store, agent_url)
    activities, begin = _begin(manage_store, session_factory, client, scheduled_run(trigger))
    env = ActivityEnvironment()
    plan = env.run(activities.begin_invocation, begin)
    assert plan.delivery is not None

    first = await env.run(activities.deliver, DeliverInput(plan.delivery, 1, at=NOW))
    again = await env.run(activities.deliver, DeliverInput(plan.delivery, 1, at=NOW))

    assert len(agent.requests) == 1
    assert (first.ok, first.http_status) == (True, 200)
    assert again == AttemptOutcome(ok=True, retryable=True, http_status=200)
    row, attempts = invocation(session_factory, plan.invocation_id)
    assert row.attempt_count == 1
    assert attempt_summary(attempts) == [(1, "succeeded", 200, None)]
    assert attempts[0].started_at == NOW


async def test_attempts_and_finish_are_idempotent(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(manage_store, "http://127.0.0.1:9/hook")
    activities, begin = _begin(manage_store, session_factory, client, scheduled_run(trigger))
    env = ActivityEnvironment()
    plan = env.run(activities.begin_invocation, begin)
    lost = AttemptRecord(plan.invocation_id, 1, NOW, 40_000, "worker_timeout", "lost")

    env.run(activities.record_attempt, lost)
    env.run(activities.record_attempt, replace(lost, error_message="again"))
    done = FinishInput(plan.invocation_id, "completed", None, NOW + timedelta(minutes=1))
    first = env.run(activities.finish_invocation, done)
    second = env.run(activities.finish_invocation, replace(done, status="failed"))

    assert (first.status, second.status) == ("completed", "completed")
    row, attempts = invocation(session_factory, plan.invocation_id)
    assert (row.status, row.finished_at, row.attempt_count) == ("completed", done.now, 1)
    assert attempt_summary(attempts) == [(1, "failed", None, "worker_timeout")]
    assert attempts[0].error_message == "lost"
