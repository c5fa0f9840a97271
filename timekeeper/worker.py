"""The Temporal worker: the scheduler and runner workflows with their activities."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from manage_db.store import ManageStore
from timekeeper.settings import Settings


@dataclass
class WorkerDeps:
    settings: Settings
    client: Client
    session_factory: sessionmaker[Session]
    store: ManageStore
    http: httpx.AsyncClient


def _components(deps: WorkerDeps) -> tuple[list[type], list[Any]]:
    """Workflows and activity callables this worker runs."""
    workflows: list[type] = []
    activities: list[Any] = []
    return workflows, activities


def build_worker(deps: WorkerDeps, executor: ThreadPoolExecutor) -> Worker | None:
    workflows, activities = _components(deps)
    if not workflows and not activities:
        return None
    return Worker(
        deps.client,
        task_queue=deps.settings.effective_task_queue,
        workflows=workflows,
        activities=activities,
        activity_executor=executor,
        max_concurrent_activities=64,
    )
