"""The service layer over a real doltlite store and a real PostgreSQL, with no HTTP.

`svc` is a context on a pinned clock; `web` adds project acme/web with agent `bot`, made
through the service by `alice`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from manage_db.store import ManageStore
from service.agents import put_agent
from service.context import ServiceContext
from service.inputs import AgentPut, ProjectCreate, TriggerCreate
from service.projects import create_project
from service.scope import Scope

NOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)
ALICE = Scope("alice", "acme", "web", "bot")


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Svc:
    ctx: ServiceContext
    clock: Clock

    def trigger(self, trigger_id: str) -> Scope:
        return replace(ALICE, trigger_id=trigger_id)


@pytest.fixture
def svc(session_factory: sessionmaker[Session], manage_store: ManageStore) -> Svc:
    clock = Clock()
    return Svc(ServiceContext(session_factory, manage_store, None, "unused", now=clock), clock)


@pytest.fixture
def web(svc: Svc) -> Svc:
    create_project(svc.ctx, ALICE, ProjectCreate(id="web", name="Web"))
    endpoint = {"url": "http://127.0.0.1:9/hook", "protocol": "webhook"}
    put_agent(svc.ctx, ALICE, AgentPut.model_validate({"name": "Bot", "endpoint": endpoint}))
    return svc


def nightly(**overrides: Any) -> TriggerCreate:
    """02:30 every day in Berlin, validated from JSON as a surface would."""
    return TriggerCreate.model_validate_json(
        json.dumps(
            {
                "id": "nightly",
                "name": "Nightly report",
                "cron_expression": "30 2 * * *",
                "cron_timezone": "Europe/Berlin",
                "message_template": "Report for {{scheduled_for_local}}",
                **overrides,
            }
        )
    )
