"""Dashboard tests: the app over real stores, keys for two tenants and an admin, and a project
acme/web with agent `bot` and trigger `nightly`, made through the service layer."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest_asyncio
from sqlalchemy.orm import Session, sessionmaker

from manage_db.store import ManageStore
from runtime_db.api_keys import create_key
from service import agents, projects, triggers
from service.context import ServiceContext
from service.inputs import AgentPut, ProjectCreate, TriggerCreate
from service.scope import Scope
from timekeeper.app import create_app

NOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)
WEB = "/ui/tenants/acme/projects/web"
NIGHTLY = WEB + "/agents/bot/triggers/nightly"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Ui:
    client: httpx.AsyncClient
    keys: dict[str, str]
    ctx: ServiceContext

    async def sign_in(self, who: str = "acme") -> None:
        token = await self.csrf("/ui/login")
        answer = await self.client.post(
            "/ui/login", data={"api_key": self.keys[who], "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text

    async def csrf(self, path: str) -> str:
        found = _CSRF.search((await self.client.get(path)).text)
        assert found is not None
        return found.group(1)


def add_trigger(ctx: ServiceContext, **fields: object) -> None:
    body = {
        "id": "nightly",
        "name": "Nightly report",
        "cron_expression": "30 2 * * *",
        "cron_timezone": "Europe/Berlin",
        "message_template": "Report",
        **fields,
    }
    scope = Scope("acme-alice", "acme", "web", "bot")
    triggers.create_trigger(ctx, scope, TriggerCreate.model_validate_json(json.dumps(body)))


@pytest_asyncio.fixture
async def ui(
    session_factory: sessionmaker[Session], manage_store: ManageStore
) -> AsyncIterator[Ui]:
    keys = {}
    with session_factory.begin() as session:
        for who, tenant, admin in (("acme", "acme", False), ("globex", "globex", False),
                                   ("admin", None, True)):  # fmt: skip
            keys[who], _ = create_key(
                session, tenant_id=tenant, is_admin=admin, principal=f"{who}-user"
            )
    ctx = ServiceContext(session_factory, manage_store, None, "unused", now=lambda: NOW)
    scope = Scope("acme-alice", "acme")
    projects.create_project(ctx, scope, ProjectCreate(id="web", name="Web"))
    endpoint = {"url": "http://127.0.0.1:9/hook", "protocol": "webhook"}
    agents.put_agent(
        ctx,
        Scope("acme-alice", "acme", "web", "bot"),
        AgentPut.model_validate({"name": "Bot", "endpoint": endpoint}),
    )
    add_trigger(ctx)
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Ui(client, keys, ctx)
