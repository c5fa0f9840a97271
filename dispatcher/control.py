"""Starting the scheduler: per deployment by the deploy hook, and whenever a worker finds none.

A deployment's generation is allocated once (`scheduler_generations`), so asking again for the
same deployment returns the run that was started, and the newest deployment's scheduler wins
registration whatever order the calls arrive in.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from dispatcher.models import (
    PLAIN_SCHEDULER,
    SCHEDULER_WORKFLOW,
    WAKE_SIGNAL,
    SchedulerOptions,
    scheduler_workflow_id,
)
from manage_db.timestamps import to_db
from runtime_db.scheduler_state import (
    Allocation,
    allocate_generation,
    current_state,
    generation_before,
    set_generation_run,
)

log = logging.getLogger(__name__)


class SchedulerStart(NamedTuple):
    workflow_id: str
    run_id: str | None
    generation: int
    previous: int | None  # the generation this one supersedes, if any
    # Set when a repeated call names a deployment older than the registered scheduler (a
    # rollback reusing an old id): its run is not the live scheduler and cannot become it.
    superseded_by: int | None = None


class _Allocated(NamedTuple):
    allocation: Allocation
    previous: int | None
    registered: int | None  # the generation holding scheduler_state now


async def start_scheduler(
    client: Client,
    session_factory: sessionmaker[Session],
    *,
    deployment_id: str,
    task_queue: str,
    tick_seconds: int,
    options: SchedulerOptions = PLAIN_SCHEDULER,
) -> SchedulerStart:
    """Start the deployment's scheduler once, with `options` (its leads, its runs' queue);
    asking again returns the same run."""
    workflow_id = scheduler_workflow_id(deployment_id)
    allocated = await asyncio.to_thread(
        _allocate, session_factory, deployment_id, workflow_id, task_queue
    )
    allocation = allocated.allocation
    if allocation.run_id is not None:
        newer = allocated.registered
        return SchedulerStart(
            workflow_id,
            allocation.run_id,
            allocation.generation,
            allocated.previous,
            superseded_by=newer if newer is not None and newer > allocation.generation else None,
        )
    run_id = await _start(client, allocation, tick_seconds, options, restart=False)
    await asyncio.to_thread(_set_run, session_factory, allocation.generation, run_id)
    return SchedulerStart(workflow_id, run_id, allocation.generation, allocated.previous)


async def ensure_scheduler(
    client: Client,
    session_factory: sessionmaker[Session],
    *,
    deployment_id: str,
    task_queue: str,
    tick_seconds: int,
    options: SchedulerOptions = PLAIN_SCHEDULER,
) -> SchedulerStart | None:
    """Start this deployment's scheduler when none is registered or the registered one is not
    running in Temporal; None when a scheduler runs already.

    A closed run of this deployment is started again under its generation. A deployment older
    than the registered one cannot take over (its registration would lose): it logs and leaves
    the restart to the deploy hook.
    """
    registered = await asyncio.to_thread(_registered, session_factory)
    if registered is not None and await _is_running(client, registered):
        return None
    workflow_id = scheduler_workflow_id(deployment_id)
    allocated = await asyncio.to_thread(
        _allocate, session_factory, deployment_id, workflow_id, task_queue
    )
    allocation = allocated.allocation
    if allocated.registered is not None and allocation.generation < allocated.registered:
        log.warning(
            "registered scheduler generation %s is not running, and deployment %s "
            "(generation %s) is older; call the deploy hook to start a newer one",
            allocated.registered,
            deployment_id,
            allocation.generation,
        )
        return None
    run_id = await _start(client, allocation, tick_seconds, options, restart=True)
    await asyncio.to_thread(_set_run, session_factory, allocation.generation, run_id)
    log.info(
        "scheduler ensured: deployment=%s generation=%s run_id=%s",
        deployment_id,
        allocation.generation,
        run_id,
    )
    return SchedulerStart(workflow_id, run_id, allocation.generation, allocated.previous)


async def _start(
    client: Client,
    allocation: Allocation,
    tick_seconds: int,
    options: SchedulerOptions,
    restart: bool,
) -> str:
    """Start the workflow for an allocated generation; a run already open is reused.

    Without `restart`, a closed run of the same id is not started again (the deployment had
    its scheduler); its id is returned.
    """
    input = options.input(
        allocation.generation, allocation.deployment_id, tick_seconds, allocation.task_queue
    )
    try:
        handle = await client.start_workflow(
            SCHEDULER_WORKFLOW,
            input,
            id=allocation.workflow_id,
            task_queue=allocation.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE
            if restart
            else WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowAlreadyStartedError:
        description = await client.get_workflow_handle(allocation.workflow_id).describe()
        return description.run_id
    assert handle.result_run_id is not None
    return handle.result_run_id


async def wake_scheduler_for(
    client: Client, workflow_id: str, instant: datetime, rpc_timeout: timedelta | None = None
) -> bool:
    """Tell the scheduler of a due instant it may not know of (the `wake` signal); False, and
    logged, when the server did not take it: the instant is then dispatched by the next tick."""
    try:
        await client.get_workflow_handle(workflow_id).signal(
            WAKE_SIGNAL, to_db(instant), rpc_timeout=rpc_timeout
        )
    except RPCError as exc:
        log.warning("could not wake the scheduler for %s: %s", to_db(instant), exc.message)
        return False
    return True


async def latest_run(client: Client, workflow_id: str) -> WorkflowExecutionDescription | None:
    """The workflow id's latest run as Temporal describes it (continue-as-new and restarts keep
    the id), or None when Temporal does not know the id; other RPC failures are raised."""
    try:
        return await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _is_running(client: Client, workflow_id: str) -> bool:
    description = await latest_run(client, workflow_id)
    return description is not None and description.status == WorkflowExecutionStatus.RUNNING


def _allocate(
    session_factory: sessionmaker[Session], deployment_id: str, workflow_id: str, task_queue: str
) -> _Allocated:
    with session_factory.begin() as session:
        allocation = allocate_generation(session, deployment_id, workflow_id, task_queue)
        # The generation superseded: the newest one allocated before this deployment's.
        previous = generation_before(session, allocation.generation)
        state = current_state(session)
        return _Allocated(allocation, previous, state.generation if state else None)


def _registered(session_factory: sessionmaker[Session]) -> str | None:
    """The workflow id of the registered scheduler, if any."""
    with session_factory() as session:
        state = current_state(session)
        return None if state is None else state.workflow_id


def _set_run(session_factory: sessionmaker[Session], generation: int, run_id: str) -> None:
    with session_factory.begin() as session:
        set_generation_run(session, generation, run_id)
