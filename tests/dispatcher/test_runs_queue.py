"""The runs' queue: a minute's dispatch, and the burst of runs it starts, go on a queue of their
own (served by `runner` workers); the scheduler, its one-time dispatches and their runs stay on
the scheduler's queue, in a process the burst does not hold."""

from __future__ import annotations

from contextlib import AsyncExitStack

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from dispatcher.activities import DispatchActivities
from dispatcher.models import (
    SchedulerInput,
    SchedulerOutcome,
    runs_queue_for,
    scheduler_workflow_id,
)
from dispatcher.workflows import SchedulerWorkflow
from manage_db.store import ManageStore
from manage_db.timestamps import to_db, to_slot
from runner.contract import runner_workflow_id
from tests.dispatcher.conftest import (
    RunRecorder,
    add_triggers,
    every5_and_once,
    park_before_midnight,
    scheduler_worker,
    start_scheduler,
    trigger,
)


def _dispatch_queues(history: WorkflowHistory) -> list[str]:
    """The task queue of each dispatch activity the scheduler scheduled, in order."""
    return [
        event.activity_task_scheduled_event_attributes.task_queue.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name
        == "scheduler.dispatch"
    ]


async def _queue_of(client: Client, workflow_id: str) -> str:
    return (await client.get_workflow_handle(workflow_id).describe()).task_queue


async def test_a_minutes_runs_go_on_the_runs_queue_and_a_one_time_run_on_the_schedulers(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
    tenant: str,
) -> None:
    client = time_skipping_env.client
    runs_queue = runs_queue_for(task_queue)
    midnight, at27 = await every5_and_once(time_skipping_env, manage_store, branch, 27)
    activities = DispatchActivities(manage_store, session_factory, client, task_queue)
    recorder = RunRecorder()
    async with AsyncExitStack() as workers:
        for queue in (task_queue, runs_queue):
            await workers.enter_async_context(scheduler_worker(client, queue, activities, recorder))
        handle = await start_scheduler(
            client,
            task_queue,
            SchedulerInput(
                generation=1, deployment_id="d1", stop_after_ticks=3, runs_queue=runs_queue
            ),
        )
        outcome = await handle.result()
    history = await client.get_workflow_handle(scheduler_workflow_id("d1")).fetch_history()

    # Ticks at 00:00 and 00:01 on the runs' queue; the one-time instant at 00:00:27 on the
    # scheduler's. Each run went on the queue of the dispatch that started it.
    assert outcome == SchedulerOutcome("stopped", ticks=3)
    assert _dispatch_queues(history) == [runs_queue, task_queue, runs_queue]
    assert [(run.trigger_id, run.scheduled_for) for run in recorder.runs] == [
        ("every5", to_db(midnight)),
        ("once", to_db(at27)),
    ]
    every5 = runner_workflow_id(tenant, "p1", "agent-1", "every5", to_slot(midnight))
    once = runner_workflow_id(tenant, "p1", "agent-1", "once", to_slot(at27))
    assert [await _queue_of(client, run) for run in (every5, once)] == [runs_queue, task_queue]
    await Replayer(workflows=[SchedulerWorkflow]).replay_workflow(history)


async def test_a_scheduler_without_a_runs_queue_dispatches_on_its_own(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    branch: str,
    tenant: str,
) -> None:
    """A scheduler started before the runs' queue (its input has none) keeps every dispatch and
    run on its own queue, which every worker role but `runner` serves."""
    client = time_skipping_env.client
    midnight = await park_before_midnight(time_skipping_env)
    add_triggers(manage_store, branch, trigger("every5", next_run_at=to_db(midnight)))
    activities = DispatchActivities(manage_store, session_factory, client, task_queue)
    recorder = RunRecorder()
    async with scheduler_worker(client, task_queue, activities, recorder):
        handle = await start_scheduler(
            client, task_queue, SchedulerInput(generation=1, deployment_id="d1", stop_after_ticks=2)
        )
        outcome = await handle.result()
    history = await client.get_workflow_handle(scheduler_workflow_id("d1")).fetch_history()

    assert outcome == SchedulerOutcome("stopped", ticks=2)
    assert _dispatch_queues(history) == [task_queue, task_queue]
    every5 = runner_workflow_id(tenant, "p1", "agent-1", "every5", to_slot(midnight))
    assert await _queue_of(client, every5) == task_queue
