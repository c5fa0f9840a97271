"""Projects and agents through the service layer: idempotent creates, guarded deletes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from runtime_db.invocations import InvocationKey, create_invocation
from runtime_db.models import Invocation
from service.agents import delete_agent_of, list_agents_of
from service.errors import Conflict, NotFound
from service.inputs import ProjectCreate
from service.projects import create_project, delete_project, get_project_of, list_projects
from service.triggers import create_trigger
from tests.service.conftest import ALICE, Svc, nightly


def test_a_project_create_is_idempotent_and_a_different_repeat_conflicts(svc: Svc) -> None:
    row, created = create_project(svc.ctx, ALICE, ProjectCreate(id="web", name="Web"))
    again, created_again = create_project(svc.ctx, ALICE, ProjectCreate(id="web", name="Web"))
    assert (created, created_again, again) == (True, False, row)
    assert (row.tenant_id, row.created_at) == ("acme", "2026-03-02T12:00:30Z")
    with pytest.raises(Conflict, match=r"^Project web exists with different fields\.$"):
        create_project(svc.ctx, ALICE, ProjectCreate(id="web", name="Other"))
    assert [p.id for p in list_projects(svc.ctx, ALICE)] == ["web"]
    assert list_projects(svc.ctx, replace(ALICE, tenant_id="globex")) == []


def test_deleting_a_project_cancels_its_pending_runs_and_removes_it(web: Svc) -> None:
    create_trigger(web.ctx, ALICE, nightly())
    key = InvocationKey(
        "acme", "web", "bot", "nightly", datetime(2026, 3, 3, 1, 30, tzinfo=UTC), "scheduled"
    )
    with web.ctx.session_factory.begin() as session:
        create_invocation(session, key, workflow_id="wf-1")

    delete_project(web.ctx, ALICE)

    with web.ctx.session_factory() as session:
        invocation = session.execute(select(Invocation)).scalar_one()
    assert (invocation.status, invocation.status_reason) == ("cancelled", "project web deleted")
    with pytest.raises(NotFound, match=r"^Project web not found\.$"):
        get_project_of(web.ctx, ALICE)
    assert list_projects(web.ctx, ALICE) == []


def test_an_agent_with_triggers_cannot_be_deleted(web: Svc) -> None:
    create_trigger(web.ctx, ALICE, nightly())
    with pytest.raises(Conflict) as raised:
        delete_agent_of(web.ctx, ALICE)
    assert raised.value.message == "Agent bot still has 1 trigger(s) (nightly); delete them first."
    assert [agent.id for agent in list_agents_of(web.ctx, ALICE)] == ["bot"]
