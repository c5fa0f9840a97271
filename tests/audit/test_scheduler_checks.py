"""Scheduler checks against a real Temporal dev server and the real SchedulerWorkflow: none
registered, the registered one stopped, a superseded one still alive, Temporal absent.

The schedulers here tick once a day (86,400 s), so none reaches a tick while a test runs: a
superseded run stays alive until the audit cancels it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from audit.run import run_audit
from dispatcher.control import start_scheduler
from dispatcher.models import scheduler_workflow_id
from manage_db.store import ManageStore
from runtime_db.scheduler_state import register
from tests.audit.conftest import (
    NOW,
    add_triggers,
    audit_context,
    by_check,
    eventually,
    registered_run,
    scheduler_worker,
    trigger_row,
)
from timekeeper.embedded import free_port

DAY = 86_400


async def _status(env: WorkflowEnvironment, workflow_id: str) -> WorkflowExecutionStatus | None:
    return (await env.client.get_workflow_handle(workflow_id).describe()).status


async def test_without_temporal_the_scheduler_checks_are_skipped_and_the_rest_run(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    add_triggers(
        manage_store, session_factory, "acme", "web", trigger_row("daily", next_run_at=None)
    )

    document = (
        await run_audit(audit_context(manage_store, session_factory), fix=False)
    ).to_document()

    assert [(f["check"], f["subject"], f["fixable"]) for f in document["findings"]] == [
        (
            "next_run_missing",
            {"tenant_id": "acme", "project_id": "web", "trigger_id": "daily"},
            True,
        ),
        ("temporal_unavailable", {}, False),
    ]
    assert document["findings"][1]["message"] == (
        "Temporal is not configured: scheduler checks skipped"
    )


async def test_a_temporal_that_does_not_answer_is_not_taken_for_a_stopped_scheduler(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        register(
            session,
            generation=1,
            deployment_id="d1",
            workflow_id=scheduler_workflow_id("d1"),
            run_id="r1",
            task_queue="q",
            now=NOW,
        )
    unreachable = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)

    document = (
        await run_audit(audit_context(manage_store, session_factory, unreachable), fix=True)
    ).to_document()

    assert document["findings"] == [
        {
            "check": "temporal_unavailable",
            "subject": {},
            "message": "Temporal did not answer: scheduler checks skipped",
            "fixable": False,
            "fixed": False,
        }
    ]
    assert document["repairs"] == []


async def test_no_scheduler_registered_is_fixed_by_starting_one(
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    dev_env: WorkflowEnvironment,
    task_queue: str,
    deployment: str,
) -> None:
    ctx = audit_context(
        manage_store,
        session_factory,
        dev_env.client,
        task_queue=task_queue,
        deployment_id=deployment,
    )
    workflow_id = scheduler_workflow_id(deployment)

    found = (await run_audit(ctx, fix=False)).to_document()

    assert found["findings"] == [
        {
            "check": "scheduler_missing",
            "subject": {},
            "message": "no scheduler is registered: nothing dispatches",
            "fixable": True,
            "fixed": False,
        }
    ]
    assert found["healthy"] is False

    async with scheduler_worker(dev_env.client, task_queue, manage_store, session_factory):
        fixed = await run_audit(ctx, fix=True)
        generation, run_id = await eventually(registered_run(session_factory))
        healthy = await run_audit(ctx, fix=False)
        await dev_env.client.get_workflow_handle(workflow_id).terminate("test over")

    assert fixed.healthy is True
    assert fixed.to_document()["repairs"] == [
        {
            "check": "scheduler_missing",
            "subject": {},
            "action": f"started scheduler {workflow_id} run {run_id} (generation 1)"
            f" on task queue {task_queue}",
        }
    ]
    assert generation == 1
    assert healthy.to_document()["findings"] == []
    assert healthy.healthy is True


async def test_a_stopped_scheduler_is_restarted_for_its_own_deployment(
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    dev_env: WorkflowEnvironment,
    task_queue: str,
    deployment: str,
) -> None:
    # The audit's own deployment is another one: the repair restarts the registered deployment.
    ctx = audit_context(
        manage_store, session_factory, dev_env.client, task_queue="elsewhere", deployment_id="x"
    )
    client = dev_env.client
    async with scheduler_worker(client, task_queue, manage_store, session_factory):
        started = await start_scheduler(
            client,
            session_factory,
            deployment_id=deployment,
            task_queue=task_queue,
            tick_seconds=DAY,
        )
        assert await eventually(registered_run(session_factory)) == (1, started.run_id)
        await client.get_workflow_handle(started.workflow_id).terminate("operator error")

        found = (await run_audit(ctx, fix=False)).to_document()
        fixed = (await run_audit(ctx, fix=True)).to_document()

        def restarted() -> tuple[int, str] | None:
            run = registered_run(session_factory)()
            return run if run is not None and run[1] != started.run_id else None

        generation, new_run = await eventually(restarted)
        after = (await run_audit(ctx, fix=False)).to_document()
        await client.get_workflow_handle(started.workflow_id).terminate("test over")

    subject: dict[str, Any] = {
        "generation": 1,
        "deployment_id": deployment,
        "workflow_id": started.workflow_id,
        "run_id": started.run_id,
    }
    assert found["findings"] == [
        {
            "check": "scheduler_not_running",
            "subject": subject,
            "message": "the registered scheduler is TERMINATED in Temporal: nothing dispatches",
            "fixable": True,
            "fixed": False,
        }
    ]
    assert fixed["healthy"] is True
    assert fixed["repairs"] == [
        {
            "check": "scheduler_not_running",
            "subject": subject,
            "action": f"started scheduler {started.workflow_id} run {new_run} (generation 1)"
            f" on task queue {task_queue}",
        }
    ]
    assert generation == 1
    assert after["findings"] == []


async def test_a_superseded_run_still_alive_is_cancelled(
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    dev_env: WorkflowEnvironment,
    task_queue: str,
    deployment: str,
) -> None:
    client = dev_env.client
    old_queue, new_queue = f"{task_queue}-old", f"{task_queue}-new"
    ctx = audit_context(manage_store, session_factory, client)
    async with (
        scheduler_worker(client, old_queue, manage_store, session_factory),
        scheduler_worker(client, new_queue, manage_store, session_factory),
    ):
        old = await start_scheduler(
            client,
            session_factory,
            deployment_id=f"{deployment}-old",
            task_queue=old_queue,
            tick_seconds=DAY,
        )
        await eventually(registered_run(session_factory))
        new = await start_scheduler(
            client,
            session_factory,
            deployment_id=f"{deployment}-new",
            task_queue=new_queue,
            tick_seconds=DAY,
        )
        assert await eventually(
            lambda: ((run := registered_run(session_factory)()) and run[0] == 2 and run) or None
        ) == (2, new.run_id)

        found = (await run_audit(ctx, fix=False)).to_document()
        fixed = (await run_audit(ctx, fix=True)).to_document()
        with pytest.raises(WorkflowFailureError) as ended:  # ends once cancelled
            await client.get_workflow_handle(old.workflow_id).result()
        after = (await run_audit(ctx, fix=False)).to_document()
        old_status = await _status(dev_env, old.workflow_id)
        await client.get_workflow_handle(new.workflow_id).terminate("test over")

    subject = {
        "generation": 1,
        "deployment_id": f"{deployment}-old",
        "workflow_id": old.workflow_id,
        "run_id": old.run_id,
    }
    assert by_check(found, "superseded_still_running") == [
        {
            "check": "superseded_still_running",
            "subject": subject,
            "message": "generation 1 was superseded by 2 but is still running",
            "fixable": True,
            "fixed": False,
        }
    ]
    assert found["findings"] == by_check(found, "superseded_still_running")
    assert fixed["repairs"] == [
        {
            "check": "superseded_still_running",
            "subject": subject,
            "action": f"requested cancellation of {old.workflow_id}",
        }
    ]
    assert fixed["healthy"] is True
    assert old_status == WorkflowExecutionStatus.CANCELED
    assert isinstance(ended.value.cause, CancelledError)
    assert after["findings"] == []
