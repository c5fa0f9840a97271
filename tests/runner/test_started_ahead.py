"""A run the dispatch started ahead of its instant, on the dev server's real clock: its begin
waits for the instant on the worker's clock, so nothing at the server lies between the instant
and the agent's request, and nothing is sent before it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from manage_db.store import ManageStore
from manage_db.timestamps import to_db
from runner.contract import WORKER_CLOCK_WAIT
from tests.runner.conftest import ScriptedAgent
from tests.runner.fixtures_runner import (
    attempt_summary,
    invocation,
    keep_history,
    runner_worker,
    scheduled_run,
    seed,
    start_run,
    step_count,
    timer_seconds,
    trigger_row,
)


async def test_a_run_started_ahead_begins_at_its_instant_on_the_workers_clock(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    trigger = seed(manage_store, f"{agent_url}/hook", trigger_row())
    run = replace(
        scheduled_run(trigger, to_db(instant)), fire_at=to_db(instant), started_ahead=True
    )
    async with runner_worker(dev_env.client, task_queue, manage_store, session_factory, client):
        handle = await start_run(dev_env.client, task_queue, run)
        outcome = await handle.result()
    started = (await handle.describe()).start_time

    assert (outcome.status, outcome.attempts) == ("completed", 1)
    assert started is not None and started < instant
    row, attempts = invocation(session_factory, outcome.invocation_id)
    assert attempt_summary(attempts) == [(1, "succeeded", 200, None)]
    assert row.started_at is not None
    assert instant <= row.started_at == attempts[0].started_at < instant + timedelta(seconds=1)
    assert len(agent.requests) == 1
    # The wait was the begin's own: no timer at the server, one local activity.
    assert await timer_seconds(handle) == []
    assert await step_count(handle) == (1, 0, 0)


async def test_a_run_started_further_ahead_waits_on_a_timer_then_on_the_worker(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    agent: ScriptedAgent,
    agent_url: str,
    client: httpx.AsyncClient,
) -> None:
    """A jittered run started ahead fires later than `WORKER_CLOCK_WAIT` from its start: a timer
    covers the rest, and only the last `WORKER_CLOCK_WAIT` is left to the worker's clock, which
    here already reads the instant (the server's time is skipped): the begin goes on at once,
    as of that clock."""
    env = time_skipping_env
    trigger = seed(manage_store, f"{agent_url}/hook", trigger_row())
    fire = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    run = replace(
        scheduled_run(trigger, to_db(fire - timedelta(seconds=30))),
        fire_at=to_db(fire),
        started_ahead=True,
    )
    async with runner_worker(
        env.client, task_queue, manage_store, session_factory, client, clock=lambda: fire
    ):
        handle = await start_run(env.client, task_queue, run)
        outcome = await handle.result()
    started = (await handle.describe()).start_time
    await keep_history(handle, "started_ahead")

    assert (outcome.status, outcome.attempts) == ("completed", 1)
    assert started is not None
    [timer] = await timer_seconds(handle)
    expected = (fire - WORKER_CLOCK_WAIT - started).total_seconds()
    assert expected - 1 <= timer <= expected
    row, _ = invocation(session_factory, outcome.invocation_id)
    assert row.started_at == fire
