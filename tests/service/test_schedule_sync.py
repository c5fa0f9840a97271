"""User edits reach schedule state through the sync after their commit; when that sync is lost,
the scheduler's next tick repairs it, and the trigger fires on the schedule the user saved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from dispatcher.activities import DispatchActivities
from dispatcher.models import DispatchInput, TickCounters
from manage_db.branches import project_branch
from runner.contract import runner_workflow_id
from service import project_access
from service.inputs import PageQuery, TriggerCreate, TriggerPatch
from service.trigger_history import revert_trigger, trigger_history
from service.triggers import create_trigger, delete_trigger, get_trigger_of, patch_trigger
from tests.dispatcher.conftest import schedule_of
from tests.service.conftest import ALICE, Svc, nightly

BRANCH = project_branch("acme", "web")


async def _tick(activities: DispatchActivities, as_of: str) -> TickCounters:
    counters = await activities.dispatch(DispatchInput(generation=1, as_of=as_of))
    return replace(counters, duration_ms=0, max_in_flight=0)


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return True


def _run_id(trigger_id: str, slot: str) -> str:
    return runner_workflow_id("acme", "web", "bot", trigger_id, slot)


def _activities(web: Svc, env: WorkflowEnvironment, task_queue: str) -> DispatchActivities:
    return DispatchActivities(web.ctx.store, web.ctx.session_factory, env.client, task_queue)


def _every_five(trigger_id: str) -> TriggerCreate:
    return nightly(id=trigger_id, cron_expression="*/5 * * * *", cron_timezone="UTC")


async def test_an_edit_whose_sync_was_lost_is_synced_by_the_next_tick_and_fires_on_time(
    web: Svc,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scope = web.trigger("lost-sync")
    create_trigger(web.ctx, ALICE, _every_five("lost-sync"))
    assert schedule_of(web.ctx.session_factory, BRANCH, "lost-sync")[0] == "2026-03-02T12:05:00Z"

    def crash(*args: object) -> None:
        raise RuntimeError("injected: the process died after the Dolt commit")

    monkeypatch.setattr(project_access, "sync_branch", crash)
    hourly = TriggerPatch.model_validate({"cron_expression": "0 * * * *"})
    edited = patch_trigger(web.ctx, scope, None, hourly)
    monkeypatch.undo()

    assert (edited.version, edited.next_run_at) == (2, "2026-03-02T13:00:00Z")
    assert schedule_of(web.ctx.session_factory, BRANCH, "lost-sync")[0] == "2026-03-02T12:05:00Z"
    activities = _activities(web, dev_env, task_queue)

    at_five = await _tick(activities, "2026-03-02T12:05:00Z")
    at_one = await _tick(activities, "2026-03-02T13:00:00Z")

    assert (at_five.branches_synced, at_five.due, at_five.started) == (1, 0, 0)
    assert not await _exists(dev_env.client, _run_id("lost-sync", "20260302T120500Z"))
    assert (at_one.due, at_one.started) == (1, 1)
    assert await _exists(dev_env.client, _run_id("lost-sync", "20260302T130000Z"))
    assert get_trigger_of(web.ctx, scope).next_run_at == "2026-03-02T14:00:00Z"


async def test_a_revert_to_an_older_schedule_resyncs_and_fires_on_it(
    web: Svc, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    scope = web.trigger("reverted")
    create_trigger(web.ctx, ALICE, _every_five("reverted"))
    patch_trigger(
        web.ctx, scope, None, TriggerPatch.model_validate({"cron_expression": "0 * * * *"})
    )
    assert schedule_of(web.ctx.session_factory, BRANCH, "reverted")[0] == "2026-03-02T13:00:00Z"
    first = trigger_history(web.ctx, scope, PageQuery()).items[-1].commit

    reverted = revert_trigger(web.ctx, scope, None, first)

    assert (reverted.version, reverted.cron_expression) == (3, "*/5 * * * *")
    assert schedule_of(web.ctx.session_factory, BRANCH, "reverted")[0] == "2026-03-02T12:05:00Z"
    counters = await _tick(_activities(web, dev_env, task_queue), "2026-03-02T12:05:00Z")
    assert (counters.branches_synced, counters.due, counters.started) == (0, 1, 1)
    assert await _exists(dev_env.client, _run_id("reverted", "20260302T120500Z"))


async def test_a_trigger_deleted_and_created_again_starts_its_schedule_afresh(
    web: Svc, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    scope = web.trigger("again")
    hourly = nightly(id="again", cron_expression="0 * * * *", cron_timezone="UTC")
    create_trigger(web.ctx, ALICE, hourly)
    activities = _activities(web, dev_env, task_queue)
    fired = await _tick(activities, "2026-03-02T13:00:00Z")
    assert fired.started == 1
    assert schedule_of(web.ctx.session_factory, BRANCH, "again") == (
        "2026-03-02T14:00:00Z",
        "2026-03-02T13:00:00Z",
        1,
    )
    web.clock.now = datetime(2026, 3, 2, 13, 1, tzinfo=UTC)

    delete_trigger(web.ctx, scope, None)
    create_trigger(web.ctx, ALICE, _every_five("again"))

    assert schedule_of(web.ctx.session_factory, BRANCH, "again") == (
        "2026-03-02T13:05:00Z",
        None,
        0,
    )
    counters = await _tick(activities, "2026-03-02T13:05:00Z")
    assert (counters.due, counters.started) == (1, 1)
    assert await _exists(dev_env.client, _run_id("again", "20260302T130500Z"))
