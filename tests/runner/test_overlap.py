"""Overlap policies `buffer_one` and `cancel_running` with a slow (failing, then backing off)
run on the time-skipping server: exact invocation statuses and reasons."""

from __future__ import annotations

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from manage_db.store import ManageStore
from runtime_db.models import Invocation
from tests.runner.conftest import Reply, ScriptedAgent
from tests.runner.fixtures_runner import (
    all_invocations,
    eventually,
    runner_worker,
    scheduled_run,
    seed,
    sleeping,
    start_run,
    trigger_row,
    with_status,
)


async def _waiting(sessions: sessionmaker[Session], workflow_id: str) -> Invocation | None:
    row = await with_status(sessions, workflow_id, "pending")
    return row if row is not None and (row.status_reason or "").startswith("waiting") else None


async def test_buffer_one_lets_one_run_wait_and_skips_the_next(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    env = time_skipping_env
    agent.script(Reply(500), Reply(200), Reply(200))
    trigger = seed(
        manage_store, agent_url, trigger_row(overlap_policy="buffer_one", retry_delay_seconds=600)
    )
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        first = await start_run(env.client, task_queue, scheduled_run(trigger))
        await eventually(lambda: sleeping(first))
        second = await start_run(
            env.client, task_queue, scheduled_run(trigger, "2024-03-05T09:05:00Z")
        )
        waiting = await eventually(lambda: _waiting(session_factory, second.id))
        third = await start_run(
            env.client, task_queue, scheduled_run(trigger, "2024-03-05T09:10:00Z")
        )
        skipped = await eventually(lambda: with_status(session_factory, third.id, "skipped"))
        [running] = [r for r in all_invocations(session_factory) if r.status == "running"]
        first_outcome = await first.result()
        second_outcome = await second.result()

    assert waiting.status_reason == f"waiting: invocation {running.id} still running"
    assert skipped.status_reason == (
        f"overlap: invocation {running.id} still running and {waiting.id} already waiting"
    )
    assert (first_outcome.status, first_outcome.attempts) == ("completed", 2)
    assert (second_outcome.status, second_outcome.attempts) == ("completed", 1)
    statuses = {r.workflow_id: r.status for r in all_invocations(session_factory)}
    assert statuses == {first.id: "completed", second.id: "completed", third.id: "skipped"}
    assert [r.json()["invocation_id"] for r in agent.requests] == [
        str(running.id),
        str(running.id),
        str(waiting.id),
    ]


async def test_cancel_running_cancels_the_running_run_and_starts_the_new_one(
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
        manage_store,
        agent_url,
        trigger_row(overlap_policy="cancel_running", retry_delay_seconds=600),
    )
    async with runner_worker(env.client, task_queue, manage_store, session_factory, client):
        first = await start_run(env.client, task_queue, scheduled_run(trigger))
        await eventually(lambda: sleeping(first))
        [old] = all_invocations(session_factory)
        second = await start_run(
            env.client, task_queue, scheduled_run(trigger, "2024-03-05T09:05:00Z")
        )
        second_outcome = await second.result()
        first_outcome = await first.result()

    new = next(r for r in all_invocations(session_factory) if r.workflow_id == second.id)
    assert (second_outcome.status, second_outcome.attempts) == ("completed", 1)
    assert first_outcome.status == "cancelled"
    cancelled = next(r for r in all_invocations(session_factory) if r.id == old.id)
    assert (cancelled.status, cancelled.status_reason, cancelled.attempt_count) == (
        "cancelled",
        f"overlap: replaced by invocation {new.id}",
        1,
    )
    assert [r.json()["invocation_id"] for r in agent.requests] == [str(old.id), str(new.id)]
