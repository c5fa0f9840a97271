"""The scheduler honours the scheduling controls over simulated time on the time-skipping
server: skipped instants are recorded `skipped` and not fired, a window bounds the occurrences,
`max_runs` stops a trigger (completed), and each jittered run carries its deterministic start."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from dispatcher.activities import DispatchActivities
from dispatcher.models import SchedulerOutcome
from manage_db.jitter import jitter_key, jitter_offset
from manage_db.store import ManageStore
from manage_db.timestamps import from_db, to_db
from runtime_db.models import Invocation
from runtime_db.schedules import get_schedules
from tests.dispatcher.conftest import (
    add_triggers,
    park_before_midnight,
    run_scheduler,
    trigger,
)


def _completed(sessions: sessionmaker[Session], tenant: str) -> dict[str, str | None]:
    with sessions() as session:
        rows = get_schedules(session, tenant, "p1", ["skipper", "windowed", "limited", "jittered"])
    return {trigger_id: row.completed_reason for trigger_id, row in sorted(rows.items())}


async def test_skip_window_max_runs_and_jitter_over_a_simulated_day(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
    tenant: str,
) -> None:
    midnight = await park_before_midnight(time_skipping_env)
    hour = [midnight + timedelta(hours=h) for h in range(24)]
    hourly = "0 * * * *"
    add_triggers(
        manage_store,
        branch,
        replace(
            trigger("skipper", cron=hourly, next_run_at=to_db(hour[0])),
            skipped=json.dumps([to_db(hour[3]), to_db(hour[5])]),
        ),
        replace(
            trigger("windowed", cron=hourly, next_run_at=to_db(hour[6])),
            start_at=to_db(hour[6]),
            end_at=to_db(hour[12]),
        ),
        replace(trigger("limited", cron=hourly, next_run_at=to_db(hour[0])), max_runs=3),
        replace(trigger("jittered", cron=hourly, next_run_at=to_db(hour[0])), jitter_seconds=600),
    )
    client = time_skipping_env.client
    activities = DispatchActivities(manage_store, session_factory, client, task_queue)

    outcome, recorder = await run_scheduler(client, task_queue, activities, 24, 3600)
    assert outcome == SchedulerOutcome("stopped", ticks=24)

    fired: dict[str, list[str]] = {}
    for run in recorder.runs:
        fired.setdefault(run.trigger_id, []).append(run.scheduled_for)
    assert fired == {
        "skipper": [to_db(h) for i, h in enumerate(hour) if i not in (3, 5)],
        "windowed": [to_db(h) for h in hour[6:12]],
        "limited": [to_db(h) for h in hour[:3]],
        "jittered": [to_db(h) for h in hour],
    }
    key = jitter_key(tenant, "p1", "jittered")
    starts = {
        run.scheduled_for: run.fire_at for run in recorder.runs if run.trigger_id == "jittered"
    }
    assert starts == {
        to_db(h): to_db(h + timedelta(seconds=jitter_offset(key, h, 600))) for h in hour
    }
    assert len(set(starts.values())) == 24
    for h in hour:
        start = from_db(starts[to_db(h)])
        assert start is not None and timedelta(0) <= start - h < timedelta(seconds=600)
    assert {run.fire_at for run in recorder.runs if run.trigger_id != "jittered"} == {None}
    # Dispatched at its minute, a jittered run waits on the runner's timer, not started ahead.
    assert {run.started_ahead for run in recorder.runs} == {False}
    with session_factory() as session:
        skipped = session.execute(
            select(Invocation.scheduled_for, Invocation.status, Invocation.status_reason).where(
                Invocation.tenant_id == tenant, Invocation.status == "skipped"
            )
        ).all()
    assert sorted(skipped) == [
        (hour[3], "skipped", "skipped: marked not to fire"),
        (hour[5], "skipped", "skipped: marked not to fire"),
    ]
    assert _completed(session_factory, tenant) == {
        "jittered": None,
        "limited": "max_runs (3) reached",
        "skipper": None,
        "windowed": f"end_at {to_db(hour[12])} passed",
    }


async def test_max_runs_3_on_every_5_minutes_over_an_hour_runs_exactly_3(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
    tenant: str,
) -> None:
    midnight = await park_before_midnight(time_skipping_env)
    add_triggers(
        manage_store,
        branch,
        replace(trigger("limited", next_run_at=to_db(midnight)), max_runs=3),
    )
    client = time_skipping_env.client
    activities = DispatchActivities(manage_store, session_factory, client, task_queue)

    outcome, recorder = await run_scheduler(client, task_queue, activities, 12, 300)
    assert outcome == SchedulerOutcome("stopped", ticks=12)

    assert [run.scheduled_for for run in recorder.runs] == [
        to_db(midnight + timedelta(minutes=m)) for m in (0, 5, 10)
    ]
    with session_factory() as session:
        row = get_schedules(session, tenant, "p1", ["limited"])["limited"]
    assert (row.next_run_at, row.run_count, row.completed_reason) == (
        None,
        3,
        "max_runs (3) reached",
    )
