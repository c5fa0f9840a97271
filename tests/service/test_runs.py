"""Invocations through the service layer: scoped reads, stable pages, cancel and its conflicts.
Starting runs needs Temporal; without it the operation says so instead of failing silently."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from runtime_db.invocations import InvocationKey, create_invocation
from service.errors import Conflict, NotFound, Unavailable
from service.inputs import InvocationQuery
from service.runs import cancel_invocation, get_invocation_of, list_invocations_of, run_now
from service.scope import Scope
from service.triggers import create_trigger
from tests.service.conftest import ALICE, Svc, nightly

PROJECT = Scope("alice", "acme", "web")


def _invocations(svc: Svc, trigger_id: str, count: int) -> list[uuid.UUID]:
    """One transaction each, so created_at orders them."""
    ids = []
    for n in range(count):
        when = datetime(2026, 3, 3, tzinfo=UTC) + timedelta(hours=n)
        key = InvocationKey("acme", "web", "bot", trigger_id, when, "scheduled")
        with svc.ctx.session_factory.begin() as session:
            row, _ = create_invocation(session, key, workflow_id=f"{trigger_id}-{n}")
            ids.append(row.id)
    return ids


def test_lists_are_scoped_and_page_newest_first(svc: Svc) -> None:
    nightly_ids = _invocations(svc, "nightly", 3)
    weekly_ids = _invocations(svc, "weekly", 2)
    first = list_invocations_of(svc.ctx, PROJECT, InvocationQuery(limit=3))
    rest = list_invocations_of(svc.ctx, PROJECT, InvocationQuery(limit=3, cursor=first.next_cursor))
    only_weekly = list_invocations_of(
        svc.ctx, replace(PROJECT, agent_id="bot", trigger_id="weekly"), InvocationQuery()
    )
    assert [row.id for row in first.items + rest.items] == (nightly_ids + weekly_ids)[::-1]
    assert rest.next_cursor is None
    assert [row.id for row in only_weekly.items] == weekly_ids[::-1]
    other_project = replace(PROJECT, project_id="shop")
    with pytest.raises(NotFound, match=r"^Invocation not found\.$"):
        get_invocation_of(svc.ctx, other_project, nightly_ids[0])


async def test_cancel_closes_an_open_run_once(svc: Svc) -> None:
    [invocation_id] = _invocations(svc, "nightly", 1)
    cancelled = await cancel_invocation(svc.ctx, PROJECT, invocation_id)
    assert (cancelled.status, cancelled.status_reason) == ("cancelled", "cancelled by alice")
    with pytest.raises(Conflict, match=r"^The invocation has already ended \(cancelled\)\.$"):
        await cancel_invocation(svc.ctx, PROJECT, invocation_id)


async def test_run_now_needs_the_trigger_and_temporal(web: Svc) -> None:
    with pytest.raises(NotFound, match=r"^Trigger not found\.$"):
        await run_now(web.ctx, web.trigger("nightly"))
    create_trigger(web.ctx, ALICE, nightly())
    with pytest.raises(
        Unavailable, match=r"^Runs cannot be started: Temporal is not configured\.$"
    ):
        await run_now(web.ctx, web.trigger("nightly"))
