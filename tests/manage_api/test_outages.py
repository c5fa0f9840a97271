"""A runtime store outage answers 503 problem+json with Retry-After, never 500; it is logged
once when it starts and once when it ends; nothing is half-written; service resumes by itself.
The PostgreSQL here is a server of this test's own, stopped and started for real."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from manage_db.store import ManageStore
from runtime_db import migrate as runtime_migrate
from runtime_db.api_keys import create_key
from runtime_db.engine import make_engine, make_session_factory
from service.context import ServiceContext
from tests.conftest import restart_postgres
from timekeeper.app import create_app
from timekeeper.embedded import EmbeddedPostgres

PROJECTS = "/v1/tenants/acme/projects"


@pytest.fixture
def sessions(own_postgres: EmbeddedPostgres) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(own_postgres.uri, pool_size=2)
    runtime_migrate.upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


async def test_postgres_down_answers_503_with_retry_after_and_service_resumes(
    own_postgres: EmbeddedPostgres,
    sessions: sessionmaker[Session],
    manage_store: ManageStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with sessions.begin() as session:
        key, _ = create_key(session, tenant_id="acme", is_admin=False, principal="alice")
    app = create_app(ServiceContext(sessions, manage_store, None, task_queue="q"))
    auth = {"Authorization": f"Bearer {key}"}
    caplog.set_level(logging.WARNING, logger="manage_api.outages")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as api:
        before = await api.post(PROJECTS, json={"id": "before", "name": "Before"})
        own_postgres.stop()
        during = [
            await api.get(PROJECTS),
            await api.post(PROJECTS, json={"id": "during", "name": "During"}),
            await api.get(PROJECTS + "/before"),
        ]
        restart_postgres(own_postgres)
        after = await api.post(PROJECTS, json={"id": "after", "name": "After"})
        listed = await api.get(PROJECTS)

    assert before.status_code == 201
    assert [r.status_code for r in during] == [503, 503, 503]
    for response in during:
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "The runtime store is unavailable; try again shortly.",
        }
    assert after.status_code == 201
    assert [p["id"] for p in listed.json()["items"]] == ["after", "before"]
    messages = [r.getMessage() for r in caplog.records if r.name == "manage_api.outages"]
    assert messages == [
        "the runtime store is unavailable (OperationalError); answering 503 until it returns",
        "the runtime store is available again",
    ]
    assert not [r for r in caplog.records if r.exc_info]
