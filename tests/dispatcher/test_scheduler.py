"""SchedulerWorkflow on Temporal's time-skipping server: days of minute ticks in seconds."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from dispatcher.activities import DispatchActivities
from dispatcher.models import DispatchInput, SchedulerInput, SchedulerOutcome, scheduler_workflow_id
from dispatcher.schedule_sync import sync_branch
from dispatcher.workflows import SchedulerWorkflow
from manage_db.store import ManageStore
from manage_db.timestamps import to_db, to_slot
from runner.contract import RunnerInput, runner_workflow_id
from runtime_db.scheduler_state import current_state, register
from service.context import ServiceContext
from service.wake import wake_scheduler
from tests.dispatcher.conftest import (
    RunRecorder,
    add_triggers,
    commits,
    every5_and_once,
    park_before_midnight,
    run_scheduler,
    schedule_of,
    scheduler_worker,
    start_scheduler,
    trigger,
)

HISTORIES = Path(__file__).parent / "histories"


def _last_tick_at(session_factory: sessionmaker[Session]) -> datetime | None:
    with session_factory() as session:
        state = current_state(session)
    assert state is not None
    return state.last_tick_at


def _dispatch_events(history: WorkflowHistory) -> list[tuple[str, str]]:
    """The scheduler's dispatch activities as scheduled and completed, in history order: a
    dispatch with `after` set is one beside the minute's."""
    kinds: dict[int, str] = {}
    events: list[tuple[str, str]] = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "scheduler.dispatch":
                beside = b'"after":null' not in attrs.input.payloads[0].data
                kinds[event.event_id] = "beside" if beside else "minute"
                events.append(("scheduled", kinds[event.event_id]))
        elif event.HasField("activity_task_completed_event_attributes"):
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            if scheduled in kinds:
                events.append(("completed", kinds[scheduled]))
    return events


async def _dispatch_inputs(
    client: Client, history: WorkflowHistory
) -> list[tuple[datetime, DispatchInput]]:
    """Each dispatch activity the scheduler scheduled: when (its clock), and with what input."""
    dispatches = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "scheduler.dispatch":
                [input] = await client.data_converter.decode(attrs.input.payloads, [DispatchInput])
                dispatches.append((event.event_time.ToDatetime(tzinfo=UTC), input))
    return dispatches


def _local_activities(history: WorkflowHistory) -> int:
    return sum(
        event.marker_recorded_event_attributes.marker_name == "core_local_activity"
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
    )


async def test_a_five_minute_trigger_over_a_day_dispatches_exactly_288_runs(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
    tenant: str,
) -> None:
    """Ticks every 5 minutes here, not every minute: a tick costs ~50 ms of round trips on the
    time-skipping server, so 1,440 minute ticks would take 75 s; 288 take ~15 s. Continue-as-new
    happens along the way (every 100 ticks)."""
    client = time_skipping_env.client
    midnight = await park_before_midnight(time_skipping_env)
    add_triggers(manage_store, branch, trigger("every5", next_run_at=to_db(midnight)))
    recorder = RunRecorder()
    activities = DispatchActivities(manage_store, session_factory, client, task_queue)
    async with scheduler_worker(client, task_queue, activities, recorder):
        handle = await start_scheduler(
            client,
            task_queue,
            SchedulerInput(
                generation=1,
                deployment_id="d1",
                tick_seconds=300,
                ticks_per_run=100,
                stop_after_ticks=288,
            ),
        )
        outcome = await handle.result()
    assert outcome == SchedulerOutcome("stopped", ticks=288)
    expected = [to_db(midnight + timedelta(minutes=5 * i)) for i in range(288)]
    assert sorted(run.scheduled_for for run in recorder.runs) == expected
    assert recorder.runs[0] == RunnerInput(
        tenant_id=tenant,
        project_id="p1",
        agent_id="agent-1",
        trigger_id="every5",
        scheduled_for=to_db(midnight),
        kind="scheduled",
        slot=midnight.strftime("%Y%m%dT%H%M%SZ"),
        trigger_version=1,
        steps=1,
    )
    assert schedule_of(session_factory, branch, "every5") == (
        to_db(midnight + timedelta(days=1)),
        expected[-1],
        288,
    )


async def test_a_one_time_trigger_dispatches_once_and_then_has_no_next_run(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
) -> None:
    client = time_skipping_env.client
    midnight = await park_before_midnight(time_skipping_env)
    run_at = to_db(midnight + timedelta(minutes=2))
    add_triggers(manage_store, branch, trigger("once", run_at=run_at, next_run_at=run_at))
    activities = DispatchActivities(manage_store, session_factory, client, task_queue)
    outcome, recorder = await run_scheduler(client, task_queue, activities, 5)
    assert outcome == SchedulerOutcome("stopped", ticks=5)
    assert [(run.trigger_id, run.scheduled_for) for run in recorder.runs] == [("once", run_at)]
    assert schedule_of(session_factory, branch, "once") == (None, run_at, 1)
    assert _last_tick_at(session_factory) == midnight + timedelta(minutes=4)


async def test_only_the_newest_generation_dispatches_and_the_older_ends_at_its_next_tick(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
) -> None:
    client = time_skipping_env.client
    midnight = await park_before_midnight(time_skipping_env)
    add_triggers(manage_store, branch, trigger("every5", next_run_at=to_db(midnight)))
    recorder = RunRecorder()
    activities = DispatchActivities(manage_store, session_factory, client, task_queue)
    async with scheduler_worker(client, task_queue, activities, recorder):
        old = await start_scheduler(
            client, task_queue, SchedulerInput(generation=1, deployment_id="d1")
        )
        await time_skipping_env.sleep(timedelta(minutes=1))  # old ticks at midnight
        new = await start_scheduler(
            client, task_queue, SchedulerInput(generation=2, deployment_id="d2", stop_after_ticks=5)
        )
        old_outcome = await old.result()
        new_outcome = await new.result()
        late = await client.execute_workflow(
            SchedulerWorkflow.run,
            SchedulerInput(generation=1, deployment_id="d1"),
            id=f"{scheduler_workflow_id('d1')}-again",
            task_queue=task_queue,
        )
    assert old_outcome == SchedulerOutcome("superseded", ticks=1)
    assert new_outcome == SchedulerOutcome("stopped", ticks=5)
    assert late == SchedulerOutcome("superseded", ticks=0)
    assert [run.scheduled_for for run in recorder.runs] == [
        to_db(midnight),
        to_db(midnight + timedelta(minutes=5)),
    ]
    with session_factory() as session:
        state = current_state(session)
        assert state is not None and state.last_tick is not None
        assert (state.generation, state.deployment_id, state.last_tick["generation"]) == (
            2,
            "d2",
            2,
        )


async def test_a_crashed_advance_is_redone_by_the_next_tick(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
) -> None:
    """The history of this run is the one kept for the replay test (see test_replay.py)."""
    client = time_skipping_env.client
    midnight = await park_before_midnight(time_skipping_env)
    at = to_db(midnight)
    add_triggers(
        manage_store,
        branch,
        trigger("every5", next_run_at=at),
        trigger("once", run_at=at, next_run_at=at),
    )
    crashes = [RuntimeError("injected crash before the advance")]

    def crash_once(branch_name: str) -> None:
        if crashes:
            raise crashes.pop()

    recorder = RunRecorder()
    activities = DispatchActivities(
        manage_store, session_factory, client, task_queue, advance_hook=crash_once
    )
    async with scheduler_worker(client, task_queue, activities, recorder):
        handle = await start_scheduler(
            client,
            task_queue,
            SchedulerInput(generation=1, deployment_id="d1", ticks_per_run=2, stop_after_ticks=3),
        )
        outcome = await handle.result()
        runs = [
            await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
            for run_id in (handle.first_execution_run_id, None)
        ]
    assert outcome == SchedulerOutcome("stopped", ticks=3)
    assert sorted((run.trigger_id, run.scheduled_for) for run in recorder.runs) == [
        ("every5", at),
        ("once", at),
    ]
    assert schedule_of(session_factory, branch, "once") == (None, at, 1)
    assert schedule_of(session_factory, branch, "every5")[0] == to_db(
        midnight + timedelta(minutes=5)
    )
    assert commits(manage_store, branch)[0] == ("alice", "add 2 triggers")
    with session_factory() as session:
        state = current_state(session)
        assert state is not None
        assert state.run_id != handle.first_execution_run_id  # continued as new, registered
    # The first run: registration, a failed tick, a good one, continue-as-new; the second:
    # registration again, one tick, the end of the bound.
    for name, history in zip(("crash_and_continue", "continued_to_stop"), runs, strict=True):
        await Replayer(workflows=[SchedulerWorkflow]).replay_workflow(history)
        if os.environ.get("TIMEKEEPER_RECORD_HISTORIES"):
            HISTORIES.mkdir(exist_ok=True)
            (HISTORIES / f"scheduler_{name}.json").write_text(history.to_json())


async def test_a_one_time_trigger_fires_at_its_second_and_cron_keeps_its_minute(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
    tenant: str,
) -> None:
    client = time_skipping_env.client
    midnight, at27 = await every5_and_once(time_skipping_env, manage_store, branch, 27)
    activities = DispatchActivities(manage_store, session_factory, client, task_queue)
    outcome, recorder = await run_scheduler(client, task_queue, activities, 3)
    once_id = runner_workflow_id(tenant, "p1", "agent-1", "once", to_slot(at27))
    started = (await client.get_workflow_handle(once_id).describe()).start_time
    history = await client.get_workflow_handle(scheduler_workflow_id("d1")).fetch_history()

    # Ticks at 00:00:00 (every5, and "once" known to be due at :27), 00:00:27, 00:01:00; the
    # one at :27 is its dispatch alone, which checks itself (local activities: the minutes'),
    # scheduled 2 s ahead and waiting for its instant.
    assert outcome == SchedulerOutcome("stopped", ticks=3)
    assert _local_activities(history) == 2
    [(_, first), (woke, second), (_, third)] = await _dispatch_inputs(client, history)
    assert (first.as_of, third.as_of) == (to_db(midnight), to_db(midnight + timedelta(minutes=1)))
    assert (second.as_of, second.after, second.check) == (to_db(at27), None, True)
    assert at27 - timedelta(seconds=2) <= woke < at27 - timedelta(seconds=1)
    assert 1000 < second.lead_ms <= 2000
    await Replayer(workflows=[SchedulerWorkflow]).replay_workflow(history)
    if os.environ.get("TIMEKEEPER_RECORD_HISTORIES"):
        (HISTORIES / "scheduler_ahead_of_the_instant.json").write_text(history.to_json())
    assert [(run.trigger_id, run.scheduled_for) for run in recorder.runs] == [
        ("every5", to_db(midnight)),
        ("once", to_db(at27)),
    ]
    assert started is not None
    assert at27 <= started < at27 + timedelta(seconds=1)
    assert _last_tick_at(session_factory) == midnight + timedelta(minutes=1)


async def test_with_a_minute_lead_each_minute_is_dispatched_once_ahead_of_it(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
) -> None:
    """Woken 1 s ahead of each minute (`minute_lead_ms`), the scheduler hands that minute to its
    dispatch as `as_of`, with the lead it woke ahead by. Each minute is dispatched once, though
    its dispatch ends before it (the worker's clock here is a day ahead, so the dispatch goes on
    at once): a one-time trigger a second before the minute goes with the minute's dispatch, one
    3 s after it has a wake-up of its own."""
    client = time_skipping_env.client
    midnight = await park_before_midnight(time_skipping_env)
    before, after = midnight - timedelta(seconds=1), midnight + timedelta(seconds=3)
    add_triggers(
        manage_store,
        branch,
        trigger("every1", cron="* * * * *", next_run_at=to_db(midnight)),
        trigger("before", run_at=to_db(before), next_run_at=to_db(before)),
        trigger("after", run_at=to_db(after), next_run_at=to_db(after)),
    )
    day_ahead = midnight + timedelta(days=1)
    activities = DispatchActivities(
        manage_store, session_factory, client, task_queue, clock=lambda: day_ahead
    )
    outcome, recorder = await run_scheduler(client, task_queue, activities, 3, minute_lead_ms=1000)
    history = await client.get_workflow_handle(scheduler_workflow_id("d1")).fetch_history()

    assert outcome == SchedulerOutcome("stopped", ticks=3)
    [(woke, first), (_, second), (woke_next, third)] = await _dispatch_inputs(client, history)
    next_minute = midnight + timedelta(minutes=1)
    assert (first.as_of, second.as_of, third.as_of) == tuple(
        to_db(t) for t in (midnight, after, next_minute)
    )
    assert midnight - timedelta(seconds=1) <= woke < midnight
    assert next_minute - timedelta(seconds=1) <= woke_next < next_minute
    assert 500 < first.lead_ms <= 1000 and 500 < third.lead_ms <= 1000
    assert (first.check, second.check, third.check) == (False, True, False)
    assert sorted((run.trigger_id, run.scheduled_for) for run in recorder.runs) == [
        ("after", to_db(after)),
        ("before", to_db(before)),
        ("every1", to_db(midnight)),
        ("every1", to_db(next_minute)),
    ]
    await Replayer(workflows=[SchedulerWorkflow]).replay_workflow(history)
    if os.environ.get("TIMEKEEPER_RECORD_HISTORIES"):
        (HISTORIES / "scheduler_minute_lead.json").write_text(history.to_json())


async def test_a_superseded_scheduler_does_not_dispatch_its_early_wake_up(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
) -> None:
    client = time_skipping_env.client
    midnight, _ = await every5_and_once(time_skipping_env, manage_store, branch, 27)

    def newer_generation_registers(branch_name: str) -> None:
        with session_factory.begin() as session:
            register(
                session,
                generation=2,
                deployment_id="d2",
                workflow_id=scheduler_workflow_id("d2"),
                run_id="r2",
                task_queue=task_queue,
                now=midnight,
            )

    activities = DispatchActivities(
        manage_store, session_factory, client, task_queue, advance_hook=newer_generation_registers
    )
    outcome, recorder = await run_scheduler(client, task_queue, activities, 3)

    assert outcome == SchedulerOutcome("superseded", ticks=1)
    assert [run.trigger_id for run in recorder.runs] == ["every5"]


async def test_a_one_time_trigger_saved_between_ticks_fires_at_its_second_when_told(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
    tenant: str,
) -> None:
    """Saved at 00:00:05, after the midnight tick, for 00:00:27: the save's wake signal makes
    the scheduler dispatch it at 00:00:27, not at the 00:01:00 tick."""
    client = time_skipping_env.client
    midnight = await park_before_midnight(time_skipping_env)
    at27 = midnight + timedelta(seconds=27)
    add_triggers(manage_store, branch, trigger("every5", next_run_at=to_db(midnight)))
    activities = DispatchActivities(manage_store, session_factory, client, task_queue)
    recorder = RunRecorder()
    async with scheduler_worker(client, task_queue, activities, recorder):
        handle = await start_scheduler(
            client, task_queue, SchedulerInput(generation=1, deployment_id="d1", stop_after_ticks=3)
        )
        await time_skipping_env.sleep(35)  # the midnight tick has run; now 00:00:05
        saved_at = await time_skipping_env.get_current_time()
        add_triggers(
            manage_store, branch, trigger("once", run_at=to_db(at27), next_run_at=to_db(at27))
        )
        with session_factory.begin() as session:
            sync_branch(manage_store, session, branch, saved_at)
        ctx = ServiceContext(
            session_factory, manage_store, client, task_queue, now=lambda: saved_at
        )
        told = await wake_scheduler(ctx)
        outcome = await handle.result()
    once_id = runner_workflow_id(tenant, "p1", "agent-1", "once", to_slot(at27))
    started = (await client.get_workflow_handle(once_id).describe()).start_time

    assert told == at27
    assert outcome == SchedulerOutcome("stopped", ticks=3)
    assert [(run.trigger_id, run.scheduled_for) for run in recorder.runs] == [
        ("every5", to_db(midnight)),
        ("once", to_db(at27)),
    ]
    assert started is not None
    assert at27 <= started < at27 + timedelta(seconds=1)
    assert _last_tick_at(session_factory) == midnight + timedelta(minutes=1)


@pytest.mark.parametrize(
    "through_the_api", [True, False], ids=["saved-through-the-api", "committed-to-the-store"]
)
async def test_a_one_time_trigger_due_while_the_minutes_dispatch_runs_is_dispatched_beside_it(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
    tenant: str,
    through_the_api: bool,
) -> None:
    """The midnight tick's dispatch is held before its advance until the one-time trigger's run
    has started: the scheduler wakes at 00:00:02 beside the running dispatch and dispatches it
    then (after that dispatch's own check), not when the midnight tick ends. The dispatch beside
    it takes only what came due after midnight, so every5 (due at midnight, held) is not started
    twice. A trigger saved through the API is synced, and the tick's check finds its instant; one
    committed straight to the store is brought by the tick's sync, which tells the scheduler."""
    client = time_skipping_env.client
    midnight, at2 = await every5_and_once(time_skipping_env, manage_store, branch, 2)
    if through_the_api:  # which syncs what it saves
        with session_factory.begin() as session:
            sync_branch(manage_store, session, branch, midnight - timedelta(seconds=30))
    recorder = RunRecorder()
    advances: list[str] = []
    seen_while_held: list[list[str]] = []
    loop = asyncio.get_running_loop()

    def hold_the_minute(branch_name: str) -> None:
        advances.append(branch_name)
        if len(advances) > 1:
            return  # the dispatch beside it goes through
        # The server does not skip time while an activity runs: move its clock past 00:00:02.
        asyncio.run_coroutine_threadsafe(time_skipping_env.sleep(3), loop).result(timeout=20)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(recorder.runs) < 2:
            time.sleep(0.01)
        seen_while_held.append([run.trigger_id for run in recorder.runs])

    activities = DispatchActivities(
        manage_store, session_factory, client, task_queue, advance_hook=hold_the_minute
    )
    async with scheduler_worker(client, task_queue, activities, recorder):
        handle = await start_scheduler(
            client, task_queue, SchedulerInput(generation=1, deployment_id="d1", stop_after_ticks=3)
        )
        outcome = await handle.result()
    history = await handle.fetch_history()
    once_id = runner_workflow_id(tenant, "p1", "agent-1", "once", to_slot(at2))
    started = (await client.get_workflow_handle(once_id).describe()).start_time

    # Dispatches: the midnight tick's, the one beside it at 00:00:02, the 00:01:00 tick's.
    assert outcome == SchedulerOutcome("stopped", ticks=3)
    assert seen_while_held == [["every5", "once"]]
    assert started is not None
    assert at2 <= started < at2 + timedelta(seconds=1)
    assert _dispatch_events(history)[:4] == [
        ("scheduled", "minute"),
        ("scheduled", "beside"),
        ("completed", "beside"),
        ("completed", "minute"),
    ]
    assert [(run.trigger_id, run.scheduled_for) for run in recorder.runs] == [
        ("every5", to_db(midnight)),
        ("once", to_db(at2)),
    ]
    assert schedule_of(session_factory, branch, "once") == (None, to_db(at2), 1)
    assert schedule_of(session_factory, branch, "every5") == (
        to_db(midnight + timedelta(minutes=5)),
        to_db(midnight),
        1,
    )
    assert _last_tick_at(session_factory) == midnight + timedelta(minutes=1)
    await Replayer(workflows=[SchedulerWorkflow]).replay_workflow(history)
    if through_the_api and os.environ.get("TIMEKEEPER_RECORD_HISTORIES"):
        (HISTORIES / "scheduler_beside_the_minute.json").write_text(history.to_json())


async def test_a_dispatch_beside_the_minute_that_fails_for_good_leaves_its_instant_due(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
    tenant: str,
) -> None:
    """The dispatch beside the midnight tick's, for the one-time trigger at 00:00:02, starts its
    run and then fails for good before its advance. The instant stays due: the midnight tick
    reports it, and the scheduler dispatches it again as soon as that tick ends, which finds
    the run started already and advances the trigger. One run, one advance."""
    client = time_skipping_env.client
    midnight, at2 = await every5_and_once(time_skipping_env, manage_store, branch, 2)
    with session_factory.begin() as session:
        sync_branch(manage_store, session, branch, midnight - timedelta(seconds=30))
    loop = asyncio.get_running_loop()
    advances: list[str] = []

    def fail_the_dispatch_beside_the_minute(branch_name: str) -> None:
        advances.append(branch_name)
        if len(advances) == 2:
            raise ApplicationError("the store went away", non_retryable=True)
        if len(advances) > 1:
            return
        # The midnight tick: the server does not skip time while an activity runs, so move its
        # clock past 00:00:02, and go on once the dispatch beside it has failed.
        asyncio.run_coroutine_threadsafe(time_skipping_env.sleep(3), loop).result(timeout=20)
        deadline = time.monotonic() + 20
        while len(advances) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)

    activities = DispatchActivities(
        manage_store,
        session_factory,
        client,
        task_queue,
        advance_hook=fail_the_dispatch_beside_the_minute,
    )
    outcome, recorder = await run_scheduler(client, task_queue, activities, 3)
    once_id = runner_workflow_id(tenant, "p1", "agent-1", "once", to_slot(at2))
    started = (await client.get_workflow_handle(once_id).describe()).start_time
    history = await client.get_workflow_handle(scheduler_workflow_id("d1")).fetch_history()

    assert outcome == SchedulerOutcome("stopped", ticks=3)
    assert advances == [branch] * 3
    assert [(run.trigger_id, run.scheduled_for) for run in recorder.runs] == [
        ("every5", to_db(midnight)),
        ("once", to_db(at2)),
    ]
    assert started is not None
    assert at2 <= started < at2 + timedelta(seconds=1)
    [(_, minute), (_, beside), (again_at, again)] = await _dispatch_inputs(client, history)
    assert (minute.as_of, minute.after) == (to_db(midnight), None)
    assert (beside.as_of, beside.after) == (to_db(at2), to_db(midnight))
    assert (again.as_of, again.after, again.check) == (to_db(again_at), None, True)
    assert at2 < again_at < midnight + timedelta(minutes=1)
    assert _dispatch_events(history)[:4] == [
        ("scheduled", "minute"),
        ("scheduled", "beside"),
        ("completed", "minute"),
        ("scheduled", "minute"),
    ]
    assert schedule_of(session_factory, branch, "once") == (None, to_db(at2), 1)
    assert schedule_of(session_factory, branch, "every5") == (
        to_db(midnight + timedelta(minutes=5)),
        to_db(midnight),
        1,
    )


async def test_a_wake_up_that_runs_past_the_minute_does_not_skip_that_minutes_tick(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
    tenant: str,
) -> None:
    """The dispatch for a one-time trigger at 00:00:59 is held past 00:01:04: the instant it
    reports still due (00:01) is dispatched as soon as it ends, so the every-minute trigger's
    00:01 run starts then, not at 00:02:00 with the next boundary."""
    client = time_skipping_env.client
    midnight = await park_before_midnight(time_skipping_env)
    at59 = midnight + timedelta(seconds=59)
    add_triggers(
        manage_store,
        branch,
        trigger("every1", cron="* * * * *", next_run_at=to_db(midnight)),
        trigger("once", run_at=to_db(at59), next_run_at=to_db(at59)),
    )
    loop = asyncio.get_running_loop()
    advances: list[str] = []

    def hold_the_one_time_dispatch(branch_name: str) -> None:
        advances.append(branch_name)
        if len(advances) == 2:  # the 00:00:59 dispatch: move the server's clock past 00:01
            asyncio.run_coroutine_threadsafe(time_skipping_env.sleep(5), loop).result(timeout=20)

    activities = DispatchActivities(
        manage_store, session_factory, client, task_queue, advance_hook=hold_the_one_time_dispatch
    )
    outcome, recorder = await run_scheduler(client, task_queue, activities, 3)
    minute_run = runner_workflow_id(
        tenant, "p1", "agent-1", "every1", to_slot(midnight + timedelta(minutes=1))
    )
    started = (await client.get_workflow_handle(minute_run).describe()).start_time
    history = await client.get_workflow_handle(scheduler_workflow_id("d1")).fetch_history()

    assert outcome == SchedulerOutcome("stopped", ticks=3)
    assert [(run.trigger_id, run.scheduled_for) for run in recorder.runs] == [
        ("every1", to_db(midnight)),
        ("once", to_db(at59)),
        ("every1", to_db(midnight + timedelta(minutes=1))),
    ]
    assert started is not None
    assert midnight + timedelta(minutes=1, seconds=4) <= started
    assert started < midnight + timedelta(minutes=1, seconds=30)
    [(_, first), (_, second), (ticked, third)] = await _dispatch_inputs(client, history)
    assert (first.as_of, second.as_of) == (to_db(midnight), to_db(at59))
    assert third.as_of == to_db(ticked)
    assert midnight + timedelta(minutes=1, seconds=4) <= ticked <= started
