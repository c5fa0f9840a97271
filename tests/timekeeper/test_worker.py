"""How the worker is sized (a whole minute's burst of runs fits in it at once), and which queues
each worker role serves."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from alerts.models import alerts_queue
from manage_db.store import ManageStore
from runner.agents.pools import agent_clients
from timekeeper.settings import Settings
from timekeeper.worker import (
    WFT_WARN_SECONDS,
    WorkerDeps,
    build_worker,
    build_workers,
    run_slots,
)


def _settings(task_queue: str, max_per_tick: int) -> Settings:
    return Settings(  # type: ignore[call-arg]  # pydantic-settings' init-only option
        _env_file=None, task_queue=task_queue, dispatch_max_per_tick=max_per_tick
    )


def test_a_worker_holds_a_whole_burst_and_room_beside_it(task_queue: str) -> None:
    assert run_slots(_settings(task_queue, 1000)) == 1100
    assert run_slots(_settings(task_queue, 5000)) == 5100
    assert run_slots(_settings(task_queue, 10)) == 200


async def test_every_run_of_a_burst_has_a_workflow_task_and_a_local_activity_slot(
    dev_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
) -> None:
    settings = _settings(task_queue, 1000)
    async with agent_clients(200) as http:
        deps = WorkerDeps(settings, dev_env.client, session_factory, manage_store, http)
        with ThreadPoolExecutor(max_workers=64) as executor:
            config = build_worker(deps, executor).config()

    assert config.get("task_queue") == task_queue
    assert config.get("max_concurrent_workflow_tasks") == 1100
    assert config.get("max_concurrent_local_activities") == 1100
    assert config.get("max_cached_workflows") == 2200


async def test_a_worker_role_decides_which_queues_a_process_serves(
    dev_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
) -> None:
    """`scheduler`: the scheduler's queue (the scheduler, one-time and manual runs) and the
    alerts'; `runner`: the runs' queue (the minute's dispatches and their runs); `all`: both.
    Each role is built for a deployment queue of its own (one client holds one worker a queue)."""
    served: dict[str, list[tuple[str | None, list[str]]]] = {}
    async with agent_clients(200) as http:
        with ThreadPoolExecutor(max_workers=64) as executor:
            for role in ("all", "scheduler", "runner"):
                settings = _settings(f"{task_queue}-{role}", 1000)
                deps = WorkerDeps(settings, dev_env.client, session_factory, manage_store, http)
                configs = [w.config() for w in build_workers(role, deps, executor)]
                served[role] = [
                    (
                        config.get("task_queue"),
                        sorted(w.__name__ for w in config.get("workflows", [])),
                    )
                    for config in configs
                ]

    def queues(role: str) -> dict[str, tuple[str, list[str]]]:
        own = f"{task_queue}-{role}"
        return {
            "scheduler": (own, ["RunnerWorkflow", "SchedulerWorkflow"]),
            "alerts": (alerts_queue(own), ["AlertWorkflow"]),
            "runs": (f"{own}-runs", ["RunnerWorkflow"]),
        }

    assert served == {
        "all": [queues("all")[q] for q in ("scheduler", "alerts", "runs")],
        "scheduler": [queues("scheduler")[q] for q in ("scheduler", "alerts")],
        "runner": [queues("runner")["runs"]],
    }


async def test_a_worker_warns_of_slow_workflow_tasks_only_past_a_wait_for_an_instant(
    dev_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run started ahead holds its first workflow task open while it waits for its instant:
    the SDK's warning for a task past 5 s would fire for every such run, so a worker raises its
    threshold to the longest timeout of such a task (40 s), and keeps an operator's own setting."""

    async def threshold_after_building(queue: str) -> str:
        async with agent_clients(200) as http:
            deps = WorkerDeps(
                _settings(queue, 1000), dev_env.client, session_factory, manage_store, http
            )
            with ThreadPoolExecutor(max_workers=64) as executor:
                build_workers("runner", deps, executor)
        return os.environ[WFT_WARN_SECONDS]

    monkeypatch.delenv(WFT_WARN_SECONDS, raising=False)
    assert await threshold_after_building(f"{task_queue}-a") == "40"
    monkeypatch.setenv(WFT_WARN_SECONDS, "7")
    assert await threshold_after_building(f"{task_queue}-b") == "7"
