"""The manage API over a real doltlite store and a real PostgreSQL, with a pinned clock.

`api` holds an httpx client on the ASGI app, an admin key and one key per tenant (`acme`,
`globex`), each with a principal name that Dolt commits must carry as author. `web` adds the
project acme/web with agent `bot`, created through the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from manage_db.store import ManageStore
from runtime_db.api_keys import create_key
from runtime_db.invocations import InvocationKey, create_invocation
from runtime_db.models import Invocation
from service.context import ServiceContext
from timekeeper.app import create_app

NOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)
WEB = "/v1/tenants/acme/projects/web"
BOT = WEB + "/agents/bot"
TRIGGERS = BOT + "/triggers"
BRANCH = "acme/web/main"


@dataclass
class Clock:
    """`ctx.now`: a fixed instant a test may move."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    client: httpx.AsyncClient
    ctx: ServiceContext
    clock: Clock
    keys: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def call(
        self,
        method: str,
        path: str,
        who: str = "acme",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        return await self.client.request(
            method, path, headers={**self.auth(who), **(headers or {})}, **kwargs
        )

    def add_invocation(
        self, trigger_id: str, status: str, hour: int, project_id: str = "web"
    ) -> str:
        """An invocation row of acme/{project}/bot/{trigger} at `hour` on 2026-03-03."""
        key = InvocationKey(
            "acme",
            project_id,
            "bot",
            trigger_id,
            datetime(2026, 3, 3, hour, tzinfo=UTC),
            "scheduled",
        )
        workflow_id = f"run:{project_id}:{trigger_id}:{hour}"
        with self.ctx.session_factory.begin() as session:
            create_invocation(session, key, workflow_id=workflow_id, status=status)
        return workflow_id

    def invocations(self) -> dict[str, tuple[str, str | None]]:
        """workflow_id -> (status, status_reason) of every invocation."""
        with self.ctx.session_factory() as session:
            rows = session.execute(select(Invocation)).scalars()
            return {row.workflow_id: (row.status, row.status_reason) for row in rows}

    def log(self, branch: str = BRANCH) -> list[tuple[str, str]]:
        """(author, message) of every commit on `branch`, newest first."""
        with self.ctx.store.read() as conn:
            rows = conn.execute("select committer, message from dolt_log(?)", (branch,))
            return [(row[0], row[1]) for row in rows]


PRINCIPALS = {"admin": "root-admin", "acme": "acme-alice", "globex": "globex-gina"}


@pytest_asyncio.fixture
async def api(
    session_factory: sessionmaker[Session], manage_store: ManageStore
) -> AsyncIterator[Api]:
    keys = {}
    with session_factory.begin() as session:
        for who, principal in PRINCIPALS.items():
            tenant = None if who == "admin" else who
            keys[who], _ = create_key(
                session, tenant_id=tenant, is_admin=who == "admin", principal=principal
            )
    clock = Clock()
    ctx = ServiceContext(session_factory, manage_store, None, task_queue="unused", now=clock)
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, ctx, clock, keys)


@pytest_asyncio.fixture
async def web(api: Api) -> Api:
    """Project acme/web with agent `bot` (a webhook), made through the API."""
    created = await api.call("POST", "/v1/tenants/acme/projects", json={"id": "web", "name": "Web"})
    assert created.status_code == 201, created.text
    agent = {"name": "Bot", "endpoint": {"url": "http://127.0.0.1:9/hook", "protocol": "webhook"}}
    put = await api.call("PUT", BOT, json=agent)
    assert put.status_code == 201, put.text
    return api


def nightly(**overrides: Any) -> dict[str, Any]:
    """A valid trigger body: 02:30 every day in Berlin."""
    return {
        "id": "nightly",
        "name": "Nightly report",
        "cron_expression": "30 2 * * *",
        "cron_timezone": "Europe/Berlin",
        "message_template": "Report for {{scheduled_for_local}}",
        **overrides,
    }
