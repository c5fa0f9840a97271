"""The dispatch tick, called with explicit `as_of` against a real store, PostgreSQL and Temporal.

Runner workflows are started on the Temporal dev server on a task queue no worker polls: each
test reads back exactly which runs exist and with what input.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import Client
from temporalio.service import RPCError

from dispatcher.activities import DispatchActivities
from dispatcher.models import DispatchInput, DispatchLimits, TickCounters
from dispatcher.schedule_sync import sync_branch
from manage_db.branches import project_branch
from manage_db.store import branch_heads
from manage_db.timestamps import to_db, to_slot
from manage_db.triggers import replace_trigger
from runner.contract import WORKER_CLOCK_WAIT, RunnerInput
from runtime_db.models import Invocation
from runtime_db.scheduler_state import current_state, register
from telemetry.logs import fields_of
from tests.dispatcher.conftest import (
    Scene,
    add_triggers,
    commits,
    invalid_reason,
    read_trigger,
    schedule_of,
    trigger,
)

AS_OF = "2026-03-02T10:00:00Z"


def _register(scene: Scene, generation: int) -> None:
    with scene.sessions.begin() as session:
        register(
            session,
            generation=generation,
            deployment_id=f"d{generation}",
            workflow_id=f"timekeeper-scheduler:d{generation}",
            run_id=f"r{generation}",
            task_queue=scene.task_queue,
            now=datetime(2026, 3, 2, 9, 59, tzinfo=UTC),
        )


async def _tick(activities: DispatchActivities, as_of: str) -> TickCounters:
    counters = await activities.dispatch(DispatchInput(generation=1, as_of=as_of))
    return replace(counters, duration_ms=0)


async def _started(client: Client, workflow_id: str) -> RunnerInput:
    """The input a runner workflow was started with, read back from its history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    attributes = history.events[0].workflow_execution_started_event_attributes
    [run] = await client.data_converter.decode(attributes.input.payloads, [RunnerInput])
    return run


async def _task_timeout(client: Client, workflow_id: str) -> timedelta:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    attributes = history.events[0].workflow_execution_started_event_attributes
    return attributes.workflow_task_timeout.ToTimedelta()


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return True


async def test_a_due_trigger_is_started_then_advanced_without_a_dolt_commit(
    scene: Scene,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_triggers(scene.store, scene.branch, trigger("every5", next_run_at=AS_OF))
    _register(scene, generation=1)
    activities = scene.activities()
    caplog.set_level(logging.INFO, logger="dispatcher.activities")

    counters = await activities.dispatch(DispatchInput(generation=1, as_of=AS_OF))

    assert replace(counters, duration_ms=0) == TickCounters(
        generation=1,
        as_of=AS_OF,
        branches_listed=2,
        branches_synced=1,
        due=1,
        batches=1,
        started=1,
        advanced=1,
        max_in_flight=1,
        next_due_at="2026-03-02T10:05:00Z",
        next_after_at="2026-03-02T10:05:00Z",
    )
    assert await _started(scene.env.client, scene.run_id("every5", "20260302T100000Z")) == (
        RunnerInput(
            tenant_id=scene.tenant,
            project_id="p1",
            agent_id="agent-1",
            trigger_id="every5",
            scheduled_for=AS_OF,
            kind="scheduled",
            slot="20260302T100000Z",
            trigger_version=1,
            steps=1,
        )
    )
    assert schedule_of(scene.sessions, scene.branch, "every5") == ("2026-03-02T10:05:00Z", AS_OF, 1)
    assert commits(scene.store, scene.branch)[0] == ("alice", "add 1 triggers")
    assert read_trigger(scene.store, scene.branch, "every5").next_run_at == AS_OF
    with scene.sessions() as session:
        state = current_state(session)
        assert state is not None
        assert state.last_tick_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        assert state.last_tick == counters.as_dict()
    records = [r for r in caplog.records if r.name == "dispatcher.activities"]
    assert [(r.levelname, r.getMessage(), fields_of(r)) for r in records] == [
        ("INFO", "scheduler tick", counters.as_dict())
    ]


async def test_an_idle_tick_syncs_no_branch(
    scene: Scene,
) -> None:
    branches = [project_branch(scene.tenant, f"p{i}") for i in range(3)]
    for i, name in enumerate(branches):
        add_triggers(scene.store, name, trigger(f"t{i}", next_run_at=f"2026-03-02T10:0{i}:00Z"))
    activities = scene.activities()

    cold = await _tick(activities, "2026-03-02T09:58:00Z")
    idle = await _tick(activities, "2026-03-02T09:59:00Z")
    add_triggers(scene.store, branches[2], trigger("late", next_run_at="2026-03-02T11:00:00Z"))
    moved = await _tick(activities, "2026-03-02T09:59:30Z")
    due = await _tick(activities, "2026-03-02T10:00:00Z")
    after = await _tick(activities, "2026-03-02T10:00:30Z")

    synced = [c.branches_synced for c in (cold, idle, moved, due, after)]
    assert synced == [3, 0, 1, 0, 0]
    assert [c.branches_listed for c in (cold, idle, moved, due, after)] == [4] * 5
    assert (due.started, due.advanced) == (1, 1)


async def test_a_dispatch_beside_the_minutes_takes_only_what_came_due_after_its_as_of(
    scene: Scene,
) -> None:
    """A one-time trigger at 10:00:02 dispatched while the 10:00 tick still runs: the cron
    trigger due at 10:00 is that tick's, and stays due here."""
    add_triggers(
        scene.store,
        scene.branch,
        trigger("every5", next_run_at=AS_OF),
        trigger("once", run_at="2026-03-02T10:00:02Z", next_run_at="2026-03-02T10:00:02Z"),
        trigger("later", run_at="2026-03-02T10:00:40Z", next_run_at="2026-03-02T10:00:40Z"),
    )
    _register(scene, generation=1)
    activities = scene.activities()

    beside = await activities.dispatch(
        DispatchInput(generation=1, as_of="2026-03-02T10:00:02Z", after=AS_OF, check=True)
    )

    assert beside.superseded is False
    assert (beside.due, beside.started, beside.advanced) == (1, 1, 1)
    assert await _exists(scene.env.client, scene.run_id("once", "20260302T100002Z"))
    assert not await _exists(scene.env.client, scene.run_id("every5", "20260302T100000Z"))
    assert schedule_of(scene.sessions, scene.branch, "every5") == (AS_OF, None, 0)
    assert (beside.next_due_at, beside.next_after_at) == (AS_OF, "2026-03-02T10:00:40Z")


async def test_a_checking_dispatch_of_a_superseded_generation_does_nothing(
    scene: Scene,
) -> None:
    """A dispatch for a one-time instant makes the "still current?" check itself: generation 2
    registered, generation 1's dispatch at 10:00:40 syncs nothing, starts nothing and records no
    tick."""
    add_triggers(
        scene.store,
        scene.branch,
        trigger("later", run_at="2026-03-02T10:00:40Z", next_run_at="2026-03-02T10:00:40Z"),
    )
    _register(scene, generation=1)
    _register(scene, generation=2)

    beside = await scene.activities().dispatch(
        DispatchInput(generation=1, as_of="2026-03-02T10:00:40Z", after=AS_OF, check=True)
    )

    assert beside == TickCounters(generation=1, as_of="2026-03-02T10:00:40Z", superseded=True)
    assert not await _exists(scene.env.client, scene.run_id("later", "20260302T100040Z"))
    with scene.sessions() as session:
        state = current_state(session)
    assert state is not None
    assert (state.generation, state.last_tick_at) == (2, None)


def _one_time_at(scene: Scene, instant: datetime) -> None:
    """A one-time trigger "once" at `instant`, and generation 1 registered."""
    add_triggers(
        scene.store,
        scene.branch,
        trigger("once", run_at=to_db(instant), next_run_at=to_db(instant)),
    )
    _register(scene, generation=1)


async def _start_time(scene: Scene, trigger_id: str, instant: datetime) -> datetime | None:
    """When the run of `trigger_id` for `instant` started, as Temporal recorded it."""
    handle = scene.env.client.get_workflow_handle(scene.run_id(trigger_id, to_slot(instant)))
    return (await handle.describe()).start_time


async def test_a_dispatch_woken_ahead_starts_its_run_ahead_to_begin_at_the_instant(
    scene: Scene,
) -> None:
    """The scheduler woke 6 s ahead of a one-time instant (`lead_ms`), within
    `WORKER_CLOCK_WAIT` (25 s) of it: the dispatch checks, finds and starts the run at once,
    marked to begin at the instant (its `fire_at`), which its begin waits for."""
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=6)
    _one_time_at(scene, instant)

    counters = await scene.activities().dispatch(
        DispatchInput(generation=1, as_of=to_db(instant), check=True, lead_ms=6000)
    )
    returned = datetime.now(UTC)
    started = await _start_time(scene, "once", instant)
    run = await _started(scene.env.client, scene.run_id("once", to_slot(instant)))

    assert (counters.as_of, counters.superseded, counters.due, counters.started) == (
        to_db(instant),
        False,
        1,
        1,
    )
    assert started is not None
    assert instant - WORKER_CLOCK_WAIT <= started <= returned < instant
    assert (run.scheduled_for, run.fire_at, run.started_ahead) == (
        to_db(instant),
        to_db(instant),
        True,
    )
    # Its first task is held open while it waits: the task timeout covers the wait, and 15 s more.
    timeout = await _task_timeout(scene.env.client, scene.run_id("once", to_slot(instant)))
    assert instant - started + timedelta(seconds=14) <= timeout <= timedelta(seconds=21)
    with scene.sessions() as session:
        pending = session.scalars(select(Invocation)).one()
    assert (pending.status, pending.fire_at) == ("pending", instant)


async def test_a_dispatch_waiting_for_its_instant_takes_a_sooner_one_on_its_own_second(
    scene: Scene,
) -> None:
    """While a dispatch woken ahead waits for its instant (28 s ahead, so 3 s until it may go
    on), the scheduler's dispatch beside the minute is held; a one-time instant saved for sooner
    (synced by the save, as the API does) is taken instead, at once, ahead of its own instant,
    and the later one is left due."""
    now = datetime.now(UTC).replace(microsecond=0)
    sooner, later = now + timedelta(seconds=2), now + timedelta(seconds=28)
    _one_time_at(scene, later)
    add_triggers(
        scene.store,
        scene.branch,
        trigger("sooner", run_at=to_db(sooner), next_run_at=to_db(sooner)),
    )
    with scene.sessions.begin() as session:
        sync_branch(scene.store, session, scene.branch, now)

    counters = await scene.activities().dispatch(
        DispatchInput(generation=1, as_of=to_db(later), check=True, lead_ms=28_000)
    )
    returned = datetime.now(UTC)
    started = await _start_time(scene, "sooner", sooner)
    run = await _started(scene.env.client, scene.run_id("sooner", to_slot(sooner)))

    assert (counters.as_of, counters.due, counters.started) == (to_db(sooner), 1, 1)
    assert counters.next_due_at == to_db(later)
    assert started is not None
    assert started <= returned < sooner
    assert (run.fire_at, run.started_ahead) == (to_db(sooner), True)
    assert not await _exists(scene.env.client, scene.run_id("once", to_slot(later)))
    assert schedule_of(scene.sessions, scene.branch, "once") == (to_db(later), None, 0)
    assert schedule_of(scene.sessions, scene.branch, "sooner") == (None, to_db(sooner), 1)


async def test_a_dispatch_waits_for_its_instant_no_longer_than_the_lead(scene: Scene) -> None:
    """A worker clock an hour behind the scheduler's delays the dispatch by the lead at most;
    the dispatch then takes what is due at its `as_of`, as any tick does."""
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    _one_time_at(scene, instant)

    counters = await scene.activities().dispatch(
        DispatchInput(generation=1, as_of=to_db(instant), check=True, lead_ms=300)
    )

    run = await _started(scene.env.client, scene.run_id("once", to_slot(instant)))

    assert (counters.superseded, counters.due, counters.started) == (False, 1, 1)
    assert (run.fire_at, run.started_ahead) == (None, False)  # started as at its instant


async def test_the_basis_is_the_scheduled_instant_not_the_late_tick(
    scene: Scene,
) -> None:
    add_triggers(scene.store, scene.branch, trigger("every5", next_run_at=AS_OF))
    activities = scene.activities()

    late = await _tick(activities, "2026-03-02T10:04:59Z")

    assert (late.started, late.advanced, late.skipped_misfire) == (1, 1, 0)
    run = await _started(scene.env.client, scene.run_id("every5", "20260302T100000Z"))
    assert run.scheduled_for == AS_OF
    assert schedule_of(scene.sessions, scene.branch, "every5") == ("2026-03-02T10:05:00Z", AS_OF, 1)


async def test_after_an_outage_within_grace_the_latest_occurrence_fires_once(
    scene: Scene,
) -> None:
    add_triggers(scene.store, scene.branch, trigger("every5", next_run_at=AS_OF, grace=4 * 3600))
    activities = scene.activities()

    resumed = await _tick(activities, "2026-03-02T13:02:00Z")  # down 10:00 to 13:02
    on_cadence = await _tick(activities, "2026-03-02T13:05:00Z")

    assert (resumed.due, resumed.started, resumed.skipped_misfire) == (1, 1, 36)
    assert (on_cadence.due, on_cadence.started, on_cadence.skipped_misfire) == (1, 1, 0)
    for slot in ("20260302T130000Z", "20260302T130500Z"):
        assert await _exists(scene.env.client, scene.run_id("every5", slot))
    assert not await _exists(scene.env.client, scene.run_id("every5", "20260302T125500Z"))
    assert schedule_of(scene.sessions, scene.branch, "every5") == (
        "2026-03-02T13:10:00Z",
        "2026-03-02T13:05:00Z",
        2,
    )


async def test_after_an_outage_beyond_grace_nothing_fires_and_the_cadence_resumes(
    scene: Scene,
) -> None:
    add_triggers(scene.store, scene.branch, trigger("every5", next_run_at=AS_OF, grace=60))
    activities = scene.activities()

    resumed = await _tick(activities, "2026-03-02T13:02:00Z")
    after_skip = schedule_of(scene.sessions, scene.branch, "every5")
    on_cadence = await _tick(activities, "2026-03-02T13:05:00Z")

    assert (resumed.due, resumed.started, resumed.advanced, resumed.skipped_misfire) == (
        1,
        0,
        1,
        37,
    )
    assert after_skip == ("2026-03-02T13:05:00Z", None, 0)
    assert not await _exists(scene.env.client, scene.run_id("every5", "20260302T130000Z"))
    assert (on_cadence.started, on_cadence.advanced) == (1, 1)
    assert await _exists(scene.env.client, scene.run_id("every5", "20260302T130500Z"))


async def test_a_one_time_trigger_fires_once_and_then_has_no_next_run(
    scene: Scene,
) -> None:
    add_triggers(
        scene.store,
        scene.branch,
        trigger("once", run_at=AS_OF, next_run_at=AS_OF),
        trigger("missed", run_at="2026-03-02T08:00:00Z", next_run_at="2026-03-02T08:00:00Z"),
    )
    activities = scene.activities()

    first = await _tick(activities, AS_OF)
    second = await _tick(activities, "2026-03-02T10:01:00Z")

    assert (first.due, first.started, first.advanced, first.skipped_misfire) == (2, 1, 2, 1)
    assert (second.branches_synced, second.due) == (0, 0)
    assert await _exists(scene.env.client, scene.run_id("once", "20260302T100000Z"))
    assert not await _exists(scene.env.client, scene.run_id("missed", "20260302T080000Z"))
    assert schedule_of(scene.sessions, scene.branch, "once") == (None, AS_OF, 1)
    assert schedule_of(scene.sessions, scene.branch, "missed") == (None, None, 0)
    # The definitions are untouched: the tick writes nothing to the manage store.
    assert read_trigger(scene.store, scene.branch, "once").enabled is True
    assert commits(scene.store, scene.branch)[0] == ("alice", "add 2 triggers")


async def test_a_definition_that_cannot_fire_is_held_without_firing(
    scene: Scene,
) -> None:
    """Written around the API (or valid under older rules): never fired, even once."""
    add_triggers(
        scene.store,
        scene.branch,
        replace(trigger("bad-agent", next_run_at=AS_OF), agent_id="Bad_Agent"),
        trigger("broken", cron="61 * * * *", next_run_at=AS_OF),
        trigger("fine", next_run_at=AS_OF),
    )
    activities = scene.activities()

    counters = await _tick(activities, AS_OF)

    assert (counters.due, counters.started, counters.advanced, counters.disabled_invalid) == (
        3,
        1,
        3,
        2,
    )
    assert not await _exists(scene.env.client, scene.run_id("broken", "20260302T100000Z"))
    assert await _exists(scene.env.client, scene.run_id("fine", "20260302T100000Z"))
    for trigger_id in ("bad-agent", "broken"):
        assert schedule_of(scene.sessions, scene.branch, trigger_id) == (None, None, 0)
    assert invalid_reason(scene.sessions, scene.branch, "bad-agent") == (
        "invalid trigger (agent_id must match ^[a-z0-9][a-z0-9-]{0,62}$)"
    )
    assert invalid_reason(scene.sessions, scene.branch, "broken") == (
        "invalid schedule (cron_expression: minute field '61' is invalid (allowed 0-59))"
    )
    assert invalid_reason(scene.sessions, scene.branch, "fine") is None
    assert commits(scene.store, scene.branch)[0] == ("alice", "add 3 triggers")


async def test_a_user_edit_between_scan_and_advance_wins(
    scene: Scene,
) -> None:
    add_triggers(scene.store, scene.branch, trigger("every5", next_run_at=AS_OF))
    edited = replace(
        trigger("every5", next_run_at=AS_OF),
        cron_expression="0 * * * *",
        next_run_at="2026-03-02T11:00:00Z",
        version=2,
    )

    def user_edits(branch_name: str) -> None:
        """What the API does: a commit, then the sync of its scene.branch into schedule state."""
        with scene.store.write(branch_name, author="alice", message="hourly now") as unit:
            assert replace_trigger(unit.conn, edited, expected_version=1)
        with scene.sessions.begin() as session:
            sync_branch(scene.store, session, branch_name, datetime(2026, 3, 2, 10, tzinfo=UTC))

    activities = scene.activities(advance_hook=user_edits)

    counters = await _tick(activities, AS_OF)
    follow_up = await _tick(activities, "2026-03-02T10:01:00Z")

    assert (counters.started, counters.advanced, counters.conflicts) == (1, 0, 1)
    assert read_trigger(scene.store, scene.branch, "every5") == edited
    assert schedule_of(scene.sessions, scene.branch, "every5") == ("2026-03-02T11:00:00Z", None, 0)
    assert commits(scene.store, scene.branch)[0] == ("alice", "hourly now")
    assert (follow_up.branches_synced, follow_up.due) == (0, 0)


async def test_a_tick_runs_its_store_calls_on_the_executor_it_was_given(scene: Scene) -> None:
    add_triggers(scene.store, scene.branch, trigger("every5", next_run_at=AS_OF))
    threads: list[str] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ticks") as ticks:
        activities = scene.activities(
            advance_hook=lambda _: threads.append(threading.current_thread().name),
            executor=ticks,
        )
        counters = await _tick(activities, AS_OF)

    assert (counters.started, counters.advanced) == (1, 1)
    assert threads == ["ticks_0"]


async def test_a_crash_between_start_and_advance_loses_and_duplicates_nothing(
    scene: Scene,
) -> None:
    add_triggers(
        scene.store,
        scene.branch,
        trigger("every5", next_run_at=AS_OF),
        trigger("once", run_at=AS_OF, next_run_at=AS_OF),
    )
    crashes = ["advance"]

    def crash_once(branch_name: str) -> None:
        if crashes:
            raise RuntimeError(f"injected crash before the {crashes.pop()} of {branch_name}")

    activities = scene.activities(advance_hook=crash_once)

    with pytest.raises(RuntimeError) as crash:
        await _tick(activities, AS_OF)
    after_crash = schedule_of(scene.sessions, scene.branch, "once")
    retry = await _tick(activities, "2026-03-02T10:01:00Z")

    assert str(crash.value) == f"injected crash before the advance of {scene.branch}"
    assert after_crash == (AS_OF, None, 0)
    assert (retry.due, retry.started, retry.already_started, retry.advanced) == (2, 0, 2, 2)
    assert schedule_of(scene.sessions, scene.branch, "once") == (None, AS_OF, 1)
    assert schedule_of(scene.sessions, scene.branch, "every5") == ("2026-03-02T10:05:00Z", AS_OF, 1)
    for trigger_id in ("every5", "once"):
        run = await _started(scene.env.client, scene.run_id(trigger_id, "20260302T100000Z"))
        assert run.scheduled_for == AS_OF


async def test_300_triggers_due_in_one_minute_dispatch_in_one_tick_within_the_concurrency(
    scene: Scene,
) -> None:
    branches = [project_branch(scene.tenant, f"p{i:02}") for i in range(30)]
    for name in branches:
        add_triggers(scene.store, name, *(trigger(f"t{j}", next_run_at=AS_OF) for j in range(10)))
    limits = DispatchLimits(max_per_tick=1000, max_per_branch=100, concurrency=8)
    activities = scene.activities(limits=limits)
    with scene.store.read() as conn:
        heads = branch_heads(conn)
    size = scene.store.path.stat().st_size

    counters = await _tick(activities, AS_OF)

    with scene.store.read() as conn:
        assert branch_heads(conn) == heads, "a tick commits nothing to the manage store"
    assert scene.store.path.stat().st_size == size, "a tick appends nothing to its file"

    assert counters == TickCounters(
        generation=1,
        as_of=AS_OF,
        branches_listed=31,
        branches_synced=30,
        due=300,
        batches=1,
        started=300,
        advanced=300,
        max_in_flight=8,
        next_due_at="2026-03-02T10:05:00Z",
        next_after_at="2026-03-02T10:05:00Z",
    )
    for name in branches:
        assert commits(scene.store, name)[0] == ("alice", "add 10 triggers")
    for i in range(30):
        for j in range(10):
            workflow_id = scene.run_id(f"t{j}", "20260302T100000Z", project=f"p{i:02}")
            assert await _exists(scene.env.client, workflow_id), workflow_id


async def test_bounds_pace_a_tick_in_fair_batches_and_drop_no_instant(
    scene: Scene,
) -> None:
    big, small, single = (project_branch(scene.tenant, p) for p in ("big", "small", "single"))
    add_triggers(
        scene.store,
        big,
        *(trigger(f"b{i}", next_run_at=f"2026-03-02T09:5{i}:00Z") for i in range(6)),
    )
    add_triggers(
        scene.store,
        small,
        trigger("s0", next_run_at="2026-03-02T09:45:00Z"),
        trigger("s1", next_run_at="2026-03-02T09:46:00Z"),
    )
    add_triggers(scene.store, single, trigger("x0", next_run_at=AS_OF))
    limits = DispatchLimits(max_per_tick=5, max_per_branch=3, concurrency=1)
    activities = scene.activities(limits=limits)

    tick = await _tick(activities, "2026-03-02T10:00:00Z")
    after = await _tick(activities, "2026-03-02T10:00:10Z")

    # Batches of at most 5, at most 3 from a project: 5 (s0 b0 x0 s1 b1), 3 (b2 b3 b4), 1 (b5).
    assert (tick.batches, tick.due, tick.deferred, tick.started, tick.advanced) == (3, 9, 0, 9, 9)
    assert (after.batches, after.due) == (0, 0)
    # Coalescing fires each at the latest occurrence: 10:00 for all of them.
    started = {
        (project, trigger_id)
        for project, prefix in (("big", "b"), ("small", "s"), ("single", "x"))
        for trigger_id in (f"{prefix}{i}" for i in range(6))
        if await _exists(
            scene.env.client, scene.run_id(trigger_id, "20260302T100000Z", project=project)
        )
    }
    assert started == {("big", f"b{i}") for i in range(6)} | {
        ("small", "s0"),
        ("small", "s1"),
        ("single", "x0"),
    }


async def test_500_triggers_of_one_project_all_fire_for_their_minute_despite_a_bound_of_100(
    scene: Scene,
) -> None:
    every_minute = [trigger(f"m{i}", cron="* * * * *", next_run_at=AS_OF) for i in range(500)]
    add_triggers(scene.store, scene.branch, *every_minute)
    limits = DispatchLimits(max_per_tick=1000, max_per_branch=100, concurrency=50)
    activities = scene.activities(limits=limits)

    counters = await _tick(activities, AS_OF)
    following = await _tick(activities, "2026-03-02T10:01:00Z")

    assert (counters.batches, counters.due, counters.started, counters.deferred) == (5, 500, 500, 0)
    assert counters.skipped_misfire == 0
    assert (following.due, following.started, following.skipped_misfire) == (500, 500, 0)
    for i in (0, 99, 100, 250, 499):
        run = await _started(scene.env.client, scene.run_id(f"m{i}", "20260302T100000Z"))
        assert run.scheduled_for == AS_OF
        nxt = await _started(scene.env.client, scene.run_id(f"m{i}", "20260302T100100Z"))
        assert nxt.scheduled_for == "2026-03-02T10:01:00Z"


async def test_dispatched_runs_are_visible_as_pending_and_missed_ones_as_missed(
    scene: Scene,
) -> None:
    add_triggers(
        scene.store,
        scene.branch,
        trigger("every5", next_run_at=AS_OF),
        trigger("gone-by", run_at="2026-03-02T08:00:00Z", next_run_at="2026-03-02T08:00:00Z"),
    )
    activities = scene.activities()

    await _tick(activities, AS_OF)
    await _tick(activities, AS_OF)  # a repeated tick records nothing twice

    with scene.sessions() as session:
        mine = select(Invocation).where(Invocation.tenant_id == scene.tenant)
        rows = session.execute(mine).scalars()
        found = [
            (
                r.trigger_id,
                to_db(r.scheduled_for),
                r.kind,
                r.status,
                r.workflow_id,
                r.trigger_version,
            )
            for r in rows
        ]
    assert found == [
        (
            "every5",
            AS_OF,
            "scheduled",
            "pending",
            scene.run_id("every5", "20260302T100000Z"),
            1,
        ),
        (
            "gone-by",
            "2026-03-02T08:00:00Z",
            "scheduled",
            "missed",
            scene.run_id("gone-by", "20260302T080000Z"),
            None,
        ),
    ]
    with scene.sessions() as session:
        missed = session.execute(
            select(Invocation).where(
                Invocation.status == "missed", Invocation.tenant_id == scene.tenant
            )
        ).scalar_one()
    assert (missed.status_reason, missed.finished_at) == (
        "missed: more than the misfire grace (3600 s) late when the scheduler reached it at"
        " 2026-03-02T10:00:00Z",
        datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
    )


async def test_after_a_four_minute_outage_one_run_fires_and_three_are_recorded_missed(
    scene: Scene,
) -> None:
    minutely = trigger("minutely", cron="* * * * *", next_run_at=AS_OF)
    add_triggers(scene.store, scene.branch, minutely)
    activities = scene.activities()

    resumed = await _tick(activities, "2026-03-02T10:03:00Z")

    assert (resumed.started, resumed.skipped_misfire) == (1, 3)
    with scene.sessions() as session:
        rows = session.execute(
            select(Invocation)
            .where(Invocation.tenant_id == scene.tenant)
            .order_by(Invocation.scheduled_for)
        ).scalars()
        found = [(to_db(r.scheduled_for), r.status, r.status_reason) for r in rows]
    coalesced = "missed: coalesced into the run for 2026-03-02T10:03:00Z"
    assert found == [
        ("2026-03-02T10:00:00Z", "missed", coalesced),
        ("2026-03-02T10:01:00Z", "missed", coalesced),
        ("2026-03-02T10:02:00Z", "missed", coalesced),
        ("2026-03-02T10:03:00Z", "pending", None),
    ]


async def test_a_long_outage_records_the_latest_60_missed_occurrences_and_counts_all(
    scene: Scene,
    caplog: pytest.LogCaptureFixture,
) -> None:
    minutely = trigger("minutely", cron="* * * * *", next_run_at=AS_OF, grace=86400)
    add_triggers(scene.store, scene.branch, minutely)
    activities = scene.activities()

    resumed = await _tick(activities, "2026-03-02T13:00:00Z")  # down 10:00 to 13:00

    assert (resumed.started, resumed.skipped_misfire) == (1, 180)
    with scene.sessions() as session:
        missed = (
            session.execute(
                select(Invocation.scheduled_for)
                .where(Invocation.tenant_id == scene.tenant, Invocation.status == "missed")
                .order_by(Invocation.scheduled_for)
            )
            .scalars()
            .all()
        )
    assert (len(missed), to_db(missed[0]), to_db(missed[-1])) == (
        60,
        "2026-03-02T12:00:00Z",
        "2026-03-02T12:59:00Z",
    )
    warning = f"trigger {scene.tenant}/p1/minutely missed 180 occurrences; the latest 60 are"
    assert f"{warning} recorded" in [r.getMessage() for r in caplog.records]


async def test_with_catchup_all_a_four_minute_outage_fires_four_runs_in_order(
    scene: Scene,
) -> None:
    add_triggers(
        scene.store,
        scene.branch,
        trigger("minutely", cron="* * * * *", next_run_at=AS_OF, catchup="all"),
    )
    activities = scene.activities()

    resumed = await _tick(activities, "2026-03-02T10:03:00Z")

    assert (resumed.started, resumed.skipped_misfire, resumed.advanced) == (4, 0, 1)
    starts = []
    for minute in range(4):
        slot = f"20260302T100{minute}00Z"
        description = await scene.env.client.get_workflow_handle(
            scene.run_id("minutely", slot)
        ).describe()
        starts.append(description.start_time)
    assert starts == sorted(starts)
    assert schedule_of(scene.sessions, scene.branch, "minutely") == (
        "2026-03-02T10:04:00Z",
        "2026-03-02T10:03:00Z",
        4,
    )
    with scene.sessions() as session:
        rows = session.execute(
            select(Invocation.scheduled_for, Invocation.status)
            .where(Invocation.tenant_id == scene.tenant)
            .order_by(Invocation.scheduled_for)
        ).all()
    assert [(to_db(at), status) for at, status in rows] == [
        (f"2026-03-02T10:0{minute}:00Z", "pending") for minute in range(4)
    ]
