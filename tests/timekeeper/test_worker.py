"""How the worker is sized: a whole minute's burst of runs fits in it at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from manage_db.store import ManageStore
from timekeeper.settings import Settings
from timekeeper.worker import WorkerDeps, build_worker, run_slots


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
    async with httpx.AsyncClient() as http:
        deps = WorkerDeps(settings, dev_env.client, session_factory, manage_store, http)
        with ThreadPoolExecutor(max_workers=64) as executor:
            config = build_worker(deps, executor).config()

    assert config.get("task_queue") == task_queue
    assert config.get("max_concurrent_workflow_tasks") == 1100
    assert config.get("max_concurrent_local_activities") == 1100
    assert config.get("max_cached_workflows") == 2200
