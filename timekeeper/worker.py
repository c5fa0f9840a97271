"""The Temporal worker: the scheduler and runner workflows with their activities."""

from __future__ import annotations

import os
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from alerts.activities import AlertActivities
from alerts.models import alerts_queue
from alerts.workflows import AlertWorkflow
from dispatcher.activities import DispatchActivities
from dispatcher.models import DispatchLimits, runs_queue_for
from dispatcher.workflows import SchedulerWorkflow
from manage_db.store import ManageStore
from runner.activities import RunnerActivities
from runner.contract import LONGEST_AHEAD_TASK_TIMEOUT
from runner.workflows import RunnerWorkflow
from timekeeper.settings import Settings, WorkerRole

# The SDK's threshold for its slow workflow task warning (TMPRL1104), read from the environment.
WFT_WARN_SECONDS = "TEMPORAL_WORKFLOW_TASK_DURATION_WARN_SECONDS"


@dataclass
class WorkerDeps:
    settings: Settings
    client: Client
    session_factory: sessionmaker[Session]
    store: ManageStore
    # The agents' HTTP clients (`agent_clients`); alerts take the first.
    http: tuple[httpx.AsyncClient, ...]
    # The scheduler's own threads for its store calls (None: the loop's default pool).
    dispatch_executor: Executor | None = None
    # Threads for the store calls of the runs on the scheduler's queue (one-time instants,
    # manual runs), so that in one process they never queue behind a minute's burst of runs in
    # the loop's default pool (None: that pool).
    scheduler_runs_executor: Executor | None = None


def _activities(deps: WorkerDeps, runs_executor: Executor | None = None) -> list[Any]:
    """The runner's and the dispatch's activity callables: both queues serve both (a dispatch
    starts its runs on its own queue). `runs_executor` runs the runs' store calls."""
    runner = RunnerActivities(
        deps.store,
        deps.session_factory,
        deps.http,
        deps.settings.max_message_bytes,
        executor=runs_executor,
    )
    dispatch = DispatchActivities(
        deps.store,
        deps.session_factory,
        deps.client,
        deps.settings.effective_task_queue,
        DispatchLimits(
            max_per_tick=deps.settings.dispatch_max_per_tick,
            max_per_branch=deps.settings.dispatch_max_per_branch,
            concurrency=deps.settings.dispatch_concurrency,
        ),
        executor=deps.dispatch_executor,
    )
    return [*runner.callables(), *dispatch.callables()]


def run_slots(settings: Settings) -> int:
    """Runs one worker holds at once: a whole minute's burst (`dispatch_max_per_tick` runs, each
    holding a workflow-task slot while its local activity works, and an HTTP connection while it
    delivers) and room beside it for the scheduler and manual runs. With fewer, a burst's eager
    starts found no slot and went round through the server's queue (up to 7 s at 1,000 runs)."""
    return max(200, settings.dispatch_max_per_tick + 100)


def build_worker(deps: WorkerDeps, executor: ThreadPoolExecutor) -> Worker:
    """The scheduler's queue: the scheduler, its dispatches for one-time instants and the runs
    they start, manual runs; and the minute's dispatches of a scheduler started before the
    runs' queue."""
    return _sized(
        deps,
        executor,
        deps.settings.effective_task_queue,
        [RunnerWorkflow, SchedulerWorkflow],
        _activities(deps, deps.scheduler_runs_executor),
    )


def build_runs_worker(deps: WorkerDeps, executor: ThreadPoolExecutor) -> Worker:
    """The runs' queue (`runs_queue_for`): the minute's dispatches, whose eager starts land
    their burst of runs here, and those runs."""
    return _sized(
        deps,
        executor,
        runs_queue_for(deps.settings.effective_task_queue),
        [RunnerWorkflow],
        _activities(deps),
    )


def _sized(
    deps: WorkerDeps,
    executor: ThreadPoolExecutor,
    task_queue: str,
    workflows: list[type],
    activities: list[Any],
) -> Worker:
    slots = run_slots(deps.settings)
    return Worker(
        deps.client,
        task_queue=task_queue,
        workflows=workflows,
        activities=activities,
        activity_executor=executor,
        max_concurrent_activities=64,
        # Each run of a minute's burst holds a workflow-task slot while its local activity works,
        # and a free one must remain for eager starts and for the scheduler's own wake-up.
        max_concurrent_workflow_tasks=slots,
        # The scheduler must stay cached through a burst (a cache miss replays its history).
        max_cached_workflows=2 * slots,
        # As many local-activity slots as workflow-task slots: a run holding a task never waits
        # for one, nor does the scheduler's "still current?" check behind a burst. The work
        # itself is bounded by the threads that run the store calls.
        max_concurrent_local_activities=slots,
        # More pollers than the default (5), and most of them on the shared queue rather than
        # the sticky one (the default gives it a fifth): a minute's burst is hundreds of new
        # runs, each a first workflow task that only the shared queue delivers.
        max_concurrent_workflow_task_polls=16,
        nonsticky_to_sticky_poll_ratio=1.0,
        max_concurrent_activity_task_polls=16,
        # The dispatch heartbeats every second and times out after 5 s: send each one, so
        # only a dead worker misses the timeout (the default throttle is 80% of it).
        max_heartbeat_throttle_interval=timedelta(seconds=1),
    )


def _warn_past_ahead_waits() -> None:
    """The SDK logs a warning for each workflow task longer than 5 s; a run started ahead holds
    its first task open while it waits for its instant (up to `WORKER_CLOCK_WAIT`), which would
    be a warning per run of every minute. Warn past the longest task timeout such a run is given
    instead; an operator's own setting is kept."""
    longest = LONGEST_AHEAD_TASK_TIMEOUT.total_seconds()
    os.environ.setdefault(WFT_WARN_SECONDS, str(round(longest)))


def build_alert_worker(deps: WorkerDeps, executor: ThreadPoolExecutor) -> Worker:
    """Alerts on their own task queue: a hanging alert endpoint holds only these slots, never
    one a run needs."""
    alerts = AlertActivities(deps.session_factory, deps.http[0])
    return Worker(
        deps.client,
        task_queue=alerts_queue(deps.settings.effective_task_queue),
        workflows=[AlertWorkflow],
        activities=alerts.callables(),
        activity_executor=executor,
        max_concurrent_activities=32,
    )


def build_workers(role: WorkerRole, deps: WorkerDeps, executor: ThreadPoolExecutor) -> list[Worker]:
    """A worker process's workers by its role (`Settings.worker_role`): the scheduler's queue and
    the alerts' (scheduler), the runs' queue (runner), or all three in one process (all)."""
    _warn_past_ahead_waits()
    workers: list[Worker] = []
    if role != "runner":
        workers += [build_worker(deps, executor), build_alert_worker(deps, executor)]
    if role != "scheduler":
        workers.append(build_runs_worker(deps, executor))
    return workers
