"""A message over the cap is never rendered, never sent and never retried: the run fails at
once with `message_too_large`, as its one attempt."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import ActivityEnvironment

from manage_db.store import ManageStore
from runner.activities import RunnerActivities
from runner.models import BeginInput
from runtime_db.invocations import attempts_of
from tests.runner.fixtures_runner import (
    all_invocations,
    attempt_summary,
    scheduled_run,
    seed,
    trigger_row,
)

NOW = datetime(2024, 3, 5, 9, 0, 2, tzinfo=UTC)


async def test_a_60_million_character_message_fails_at_once_with_message_too_large(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    """1,200 references to a 50,000-character value: each under its own limit, 60 MB in all.
    Stored around the API, which refuses it (see the service tests)."""
    huge = trigger_row(
        message_template="{{payload.x}}" * 1200, payload=json.dumps({"x": "a" * 50_000})
    )
    trigger = seed(manage_store, "http://127.0.0.1:9/hook", huge)
    activities = RunnerActivities(manage_store, session_factory, client)
    begin = BeginInput(run=scheduled_run(trigger), workflow_id="wf-huge", now=NOW)

    plan = ActivityEnvironment().run(activities.begin_invocation, begin)

    reason = (
        "message_too_large: the rendered message is 60000000 bytes, over the cap of 262144 bytes"
    )
    assert (plan.status, plan.reason, plan.delivery) == ("failed", reason, None)
    [row] = all_invocations(session_factory)
    assert (row.status, row.status_reason, row.attempt_count, row.message) == (
        "failed",
        reason,
        1,
        None,
    )
    with session_factory() as session:
        assert attempt_summary(attempts_of(session, row.id)) == [
            (1, "failed", None, "message_too_large")
        ]


async def test_the_cap_is_the_workers_setting(
    manage_store: ManageStore, session_factory: sessionmaker[Session], client: httpx.AsyncClient
) -> None:
    trigger = seed(
        manage_store, "http://127.0.0.1:9/hook", trigger_row(message_template="x" * 2000)
    )
    activities = RunnerActivities(manage_store, session_factory, client, max_message_bytes=1999)
    begin = BeginInput(run=scheduled_run(trigger), workflow_id="wf-capped", now=NOW)

    plan = ActivityEnvironment().run(activities.begin_invocation, begin)

    assert (plan.status, plan.reason) == (
        "failed",
        "message_too_large: the rendered message is 2000 bytes, over the cap of 1999 bytes",
    )
