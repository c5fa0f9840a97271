"""RunnerWorkflow end to end: a real worker, a real HTTP agent, PostgreSQL and doltlite, on
Temporal's time-skipping server, so the waits between attempts cost nothing and can be read back
exactly from the workflow's history."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment

from manage_db.store import ManageStore
from runner.launch import signal_cancel
from runtime_db.invocations import request_cancel
from tests.runner.conftest import Reply, ScriptedAgent
from tests.runner.fixtures_runner import (
    all_invocations,
    attempt_summary,
    eventually,
    invocation,
    keep_history,
    runner_worker,
    scheduled_run,
    seed,
    sleeping,
    start_run,
    step_count,
    timer_seconds,
    trigger_row,
    with_status,
)


async def test_a_due_run_delivers_once_and_completes(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    trigger = seed(manage_store, f"{agent_url}/hook", trigger_row(payload='{"region": "eu"}'))
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(env.client, task_queue, scheduled_run(trigger))
        outcome = await handle.result()

    assert (outcome.status, outcome.reason, outcome.attempts) == ("completed", None, 1)
    row, attempts = invocation(session_factory, outcome.invocation_id)
    assert (row.status, row.kind, row.attempt_count, row.max_attempts) == (
        "completed",
        "scheduled",
        1,
        4,
    )
    assert row.message == "Report for 2024-03-05T09:00:00Z"
    assert row.workflow_id == "trigger-run:acme:ops:bot:daily:20240305T090000Z"
    assert attempt_summary(attempts) == [(1, "succeeded", 200, None)]
    # Begin, the attempt and the close were one local activity: no activity task, no patch.
    assert await step_count(handle) == (1, 0, 0)
    [request] = agent.requests
    assert (request.path, request.headers["idempotency-key"]) == ("/hook", outcome.invocation_id)
    assert request.json() == {
        "invocation_id": outcome.invocation_id,
        "trigger": {
            "tenant_id": "acme",
            "project_id": "ops",
            "agent_id": "bot",
            "trigger_id": "daily",
            "name": "Daily report",
        },
        "scheduled_for": "2024-03-05T09:00:00Z",
        "message": "Report for 2024-03-05T09:00:00Z",
        "payload": {"region": "eu"},
        "attempt": 1,
    }


async def test_a_5xx_is_retried_after_the_backoff_then_succeeds(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    agent.script(Reply(500, {"error": "busy"}), Reply(200))
    trigger = seed(manage_store, agent_url, trigger_row(retry_delay_seconds=60))
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(env.client, task_queue, scheduled_run(trigger))
        outcome = await handle.result()

    await keep_history(handle, "retry_then_success")
    assert (outcome.status, outcome.attempts) == ("completed", 2)
    row, attempts = invocation(session_factory, outcome.invocation_id)
    assert (row.status, row.attempt_count) == ("completed", 2)
    assert attempt_summary(attempts) == [
        (1, "failed", 500, "http_5xx"),
        (2, "succeeded", 200, None),
    ]
    assert attempts[0].response_excerpt == '{"error": "busy"}'
    [delay] = await timer_seconds(handle)
    assert 60 <= delay <= 66  # 60 s plus at most 10% jitter
    assert [r.json()["attempt"] for r in agent.requests] == [1, 2]
    assert {r.headers["idempotency-key"] for r in agent.requests} == {outcome.invocation_id}


async def test_a_first_attempt_whose_record_fails_is_recorded_lost_and_retried(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    """The first attempt is sent inside begin_and_deliver; when its row cannot be written, the
    activity reports the attempt lost instead of failing (a retry of it would send again), and
    the workflow records it `worker_error` and retries after the backoff."""
    env = time_skipping_env
    trigger = seed(manage_store, agent_url, trigger_row(retry_delay_seconds=60))
    with session_factory.begin() as session:
        session.execute(text(_REFUSE_FIRST_AGENT_ROW))
    try:
        async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
            handle = await start_run(env.client, task_queue, scheduled_run(trigger))
            outcome = await handle.result()
    finally:
        with session_factory.begin() as session:
            session.execute(text("drop trigger refuse_first_agent_row on invocation_attempts"))
            session.execute(text("drop function refuse_first_agent_row()"))

    assert (outcome.status, outcome.reason, outcome.attempts) == ("completed", None, 2)
    row, attempts = invocation(session_factory, outcome.invocation_id)
    assert (row.status, row.attempt_count) == ("completed", 2)
    assert attempt_summary(attempts) == [
        (1, "failed", None, "worker_error"),
        (2, "succeeded", 200, None),
    ]
    assert attempts[0].error_message == (
        "ProgrammingError: (psycopg.errors.RaiseException) no first attempt from the agent"
    )
    [delay] = await timer_seconds(handle)
    assert 60 <= delay <= 66
    assert [r.json()["attempt"] for r in agent.requests] == [1, 2]


# A real PostgreSQL trigger that refuses the row of an attempt sent to the agent as number 1
# (the workflow's own record of a lost attempt, error_class worker_error, goes through).
_REFUSE_FIRST_AGENT_ROW = """
create function refuse_first_agent_row() returns trigger language plpgsql as $$
begin
  if new.attempt_number = 1 and new.error_class is distinct from 'worker_error' then
    raise exception 'no first attempt from the agent';
  end if;
  return new;
end $$;
create trigger refuse_first_agent_row before insert on invocation_attempts
  for each row execute function refuse_first_agent_row();
"""


async def test_retries_back_off_exponentially_and_stop_at_max_retries(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    agent.script(*[Reply(503)] * 4)
    trigger = seed(manage_store, agent_url, trigger_row(max_retries=2, retry_delay_seconds=30))
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(env.client, task_queue, scheduled_run(trigger))
        outcome = await handle.result()

    assert (outcome.status, outcome.attempts) == ("failed", 3)
    assert outcome.reason == (
        "gave up after 3 attempts; last http_5xx: HTTP 503 Service Unavailable"
    )
    row, attempts = invocation(session_factory, outcome.invocation_id)
    assert (row.status, row.status_reason) == ("failed", outcome.reason)
    assert [a.attempt_number for a in attempts] == [1, 2, 3]
    first, second = await timer_seconds(handle)
    assert 30 <= first <= 33 and 60 <= second <= 66
    assert len(agent.requests) == 3


async def test_a_permanent_4xx_fails_at_once(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    agent.script(Reply(404, "no such hook"))
    trigger = seed(manage_store, agent_url, trigger_row(max_retries=3))
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(env.client, task_queue, scheduled_run(trigger))
        outcome = await handle.result()

    assert (outcome.status, outcome.reason, outcome.attempts) == (
        "failed",
        "http_4xx: HTTP 404 Not Found",
        1,
    )
    _, attempts = invocation(session_factory, outcome.invocation_id)
    assert attempt_summary(attempts) == [(1, "failed", 404, "http_4xx")]
    assert attempts[0].response_excerpt == "no such hook"
    assert await timer_seconds(handle) == []
    assert await step_count(handle) == (1, 0, 0)
    assert len(agent.requests) == 1


async def test_an_attempt_is_aborted_at_timeout_seconds(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    agent.script(Reply(200, delay=5))
    trigger = seed(manage_store, agent_url, trigger_row(timeout_seconds=1, max_retries=0))
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(env.client, task_queue, scheduled_run(trigger))
        outcome = await handle.result()

    assert (outcome.status, outcome.reason) == (
        "failed",
        "gave up after 1 attempt; last timeout: no complete response within 1s",
    )
    _, attempts = invocation(session_factory, outcome.invocation_id)
    assert attempt_summary(attempts) == [(1, "failed", None, "timeout")]
    assert 1000 <= attempts[0].duration_ms < 2000
    # The request was really aborted: the agent saw the client hang up.
    assert await agent.wait_disconnect(5)


async def test_a_429_retry_after_sets_the_wait(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    agent.script(Reply(429, headers={"Retry-After": "120"}), Reply(200))
    trigger = seed(manage_store, agent_url, trigger_row(retry_delay_seconds=5))
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(env.client, task_queue, scheduled_run(trigger))
        outcome = await handle.result()

    assert (outcome.status, outcome.attempts) == ("completed", 2)
    assert await timer_seconds(handle) == [120.0]
    _, attempts = invocation(session_factory, outcome.invocation_id)
    assert attempt_summary(attempts) == [
        (1, "failed", 429, "http_429"),
        (2, "succeeded", 200, None),
    ]
    gap = attempts[1].started_at - attempts[0].started_at
    assert timedelta(seconds=120) <= gap < timedelta(seconds=125)


async def test_cancel_between_retries_ends_the_run_without_another_attempt(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    agent.script(*[Reply(500)] * 3)
    trigger = seed(manage_store, agent_url, trigger_row(retry_delay_seconds=600))
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(env.client, task_queue, scheduled_run(trigger))
        await eventually(lambda: sleeping(handle))
        [row] = all_invocations(session_factory)
        with session_factory.begin() as session:
            assert row.started_at is not None
            request_cancel(session, row.id, reason="cancelled by test", now=row.started_at)
        await signal_cancel(env.client, handle.id)
        outcome = await handle.result()
        await keep_history(handle, "cancel_between_retries")

    assert (outcome.status, outcome.reason, outcome.attempts) == (
        "cancelled",
        "cancelled by test",
        1,
    )
    row, attempts = invocation(session_factory, outcome.invocation_id)
    assert (row.status, row.cancel_requested) == ("cancelled", True)
    assert attempt_summary(attempts) == [(1, "failed", 500, "http_5xx")]
    assert len(agent.requests) == 1
    # The signal cut the 600 s wait short: the run ended without that much time passing.
    description = await handle.describe()
    assert description.close_time is not None
    assert description.close_time - description.start_time < timedelta(seconds=600)


async def test_a_cancel_whose_signal_is_lost_still_stops_the_next_attempt(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    agent.script(*[Reply(500)] * 3)
    trigger = seed(manage_store, agent_url, trigger_row(retry_delay_seconds=600))
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(env.client, task_queue, scheduled_run(trigger))
        await eventually(lambda: sleeping(handle))
        [row] = all_invocations(session_factory)
        with session_factory.begin() as session:
            assert row.started_at is not None
            request_cancel(session, row.id, reason="cancelled by test", now=row.started_at)
        outcome = await handle.result()

    assert (outcome.status, outcome.reason, outcome.attempts) == (
        "cancelled",
        "cancelled by test",
        1,
    )
    assert len(agent.requests) == 1


async def test_overlap_skip_records_a_skipped_run_that_delivers_nothing(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    agent.script(Reply(500), Reply(200))
    trigger = seed(
        manage_store, agent_url, trigger_row(overlap_policy="skip", retry_delay_seconds=600)
    )
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        first = await start_run(env.client, task_queue, scheduled_run(trigger))
        await eventually(lambda: sleeping(first))
        second = await start_run(
            env.client, task_queue, scheduled_run(trigger, "2024-03-05T09:05:00Z")
        )
        # Poll the row rather than await the result, so time stays put while the first sleeps.
        skipped = await eventually(lambda: with_status(session_factory, second.id, "skipped"))
        [running] = [r for r in all_invocations(session_factory) if r.status == "running"]
        assert len(agent.requests) == 1
        second_outcome = await second.result()
        first_outcome = await first.result()

    assert (second_outcome.status, second_outcome.attempts) == ("skipped", 0)
    assert second_outcome.reason == f"overlap: invocation {running.id} still running"
    assert (skipped.status_reason, skipped.attempt_count, skipped.started_at) == (
        second_outcome.reason,
        0,
        None,
    )
    assert (first_outcome.status, first_outcome.attempts) == ("completed", 2)
    assert [r.json()["invocation_id"] for r in agent.requests] == [str(running.id)] * 2


async def test_the_same_run_started_twice_is_one_invocation_and_one_delivery(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    trigger = seed(manage_store, agent_url)
    run = scheduled_run(trigger)
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(env.client, task_queue, run)
        with pytest.raises(WorkflowAlreadyStartedError):
            await start_run(env.client, task_queue, run)
        outcome = await handle.result()
        # Refused even after the first has finished: a late duplicate dispatch delivers nothing.
        with pytest.raises(WorkflowAlreadyStartedError):
            await start_run(env.client, task_queue, run)

    assert outcome.status == "completed"
    assert [str(r.id) for r in all_invocations(session_factory)] == [outcome.invocation_id]
    assert len(agent.requests) == 1


async def test_a_worker_restarted_mid_run_finishes_the_same_invocation(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    agent.script(Reply(502), Reply(200))
    trigger = seed(manage_store, agent_url, trigger_row(retry_delay_seconds=60))
    # Without a workflow cache the first worker keeps no sticky queue that the test server
    # would hold the run's next task on after this worker is gone.
    async with runner_worker(
        env.client, task_queue, manage_store, session_factory, client, max_cached_workflows=0
    ):
        handle = await start_run(env.client, task_queue, scheduled_run(trigger))
        await eventually(lambda: sleeping(handle))
    # The first worker is gone while the run sleeps before its second attempt.
    [waiting] = all_invocations(session_factory)
    assert (waiting.status, waiting.attempt_count) == ("running", 1)

    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        outcome = await handle.result()

    assert (outcome.status, outcome.attempts) == ("completed", 2)
    [row] = all_invocations(session_factory)
    assert (str(row.id), row.status, row.attempt_count) == (outcome.invocation_id, "completed", 2)
    assert [r.json()["attempt"] for r in agent.requests] == [1, 2]


async def test_the_message_renders_scheduled_for_local_time_and_payload(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    trigger = seed(
        manage_store,
        agent_url,
        trigger_row(
            cron_timezone="Europe/Paris",
            message_template=(
                "Report {{scheduled_for}} / {{ scheduled_for_local }} for"
                " {{payload.region.name}} ({{payload.sites.1}}) by {{trigger.id}}"
                " ({{trigger.name}}) as {{invocation.id}}"
            ),
            payload='{"region": {"name": "EU West"}, "sites": ["par", "ams"]}',
        ),
    )
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(
            env.client, task_queue, scheduled_run(trigger, "2024-07-01T07:00:00Z")
        )
        outcome = await handle.result()

    expected = (
        "Report 2024-07-01T07:00:00Z / 2024-07-01T09:00:00+02:00 for EU West (ams)"
        f" by daily (Daily report) as {outcome.invocation_id}"
    )
    [request] = agent.requests
    assert request.json()["message"] == expected
    row, _ = invocation(session_factory, outcome.invocation_id)
    assert row.message == expected


async def test_a_malformed_scheduled_for_fails_the_run_and_records_nothing(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    trigger = seed(manage_store, agent_url)
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(env.client, task_queue, scheduled_run(trigger, "tomorrow"))
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert all_invocations(session_factory) == []
