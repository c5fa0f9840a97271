"""Runs over HTTP: manual run, invocation listing and detail, cancel and rerun, with a real worker
on the Temporal dev server delivering to the example echo agent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from examples.echo_agent import create_app as create_echo_agent
from manage_db.store import ManageStore
from runner.models import RunnerOutcome
from runtime_db.api_keys import create_key
from runtime_db.invocations import InvocationKey, create_invocation, finish
from service.context import ServiceContext
from tests.runner.conftest import serve
from tests.runner.fixtures_runner import all_invocations, runner_worker, seed, trigger_row
from timekeeper.app import create_app

NOW = datetime(2024, 3, 5, 12, 30, 15, 123456, tzinfo=UTC)
TRIGGER = "/v1/tenants/acme/projects/ops/agents/bot/triggers/daily"
PROJECT = "/v1/tenants/acme/projects/ops"


@pytest.fixture
def echo_url() -> Iterator[str]:
    with serve(create_echo_agent()) as url:
        yield url


@pytest.fixture
def keys(session_factory: sessionmaker[Session]) -> dict[str, dict[str, str]]:
    with session_factory.begin() as session:
        acme, _ = create_key(session, tenant_id="acme", is_admin=False, principal="alice")
        other, _ = create_key(session, tenant_id="globex", is_admin=False, principal="bob")
    return {
        "acme": {"Authorization": f"Bearer {acme}"},
        "other": {"Authorization": f"Bearer {other}"},
    }


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


OpenApi = Callable[[Client | None], httpx.AsyncClient]


@pytest.fixture
def open_api(
    session_factory: sessionmaker[Session], manage_store: ManageStore, task_queue: str
) -> OpenApi:
    """A client of the API at NOW, starting runs on `task_queue` of the Temporal given (if any)."""

    def open_(temporal: Client | None) -> httpx.AsyncClient:
        ctx = ServiceContext(session_factory, manage_store, temporal, task_queue, now=lambda: NOW)
        transport = httpx.ASGITransport(app=create_app(ctx))
        return httpx.AsyncClient(transport=transport, base_url="http://t")

    return open_


async def _result(env: WorkflowEnvironment, workflow_id: str) -> RunnerOutcome:
    return await env.client.get_workflow_handle(workflow_id, result_type=RunnerOutcome).result()


async def _received(echo_url: str, http: httpx.AsyncClient) -> list[dict[str, object]]:
    return (await http.get(f"{echo_url}/received")).json()


async def test_a_manual_run_of_a_disabled_trigger_is_accepted_then_delivered(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    keys: dict[str, dict[str, str]],
    open_api: OpenApi,
    echo_url: str,
    http: httpx.AsyncClient,
) -> None:
    seed(manage_store, f"{echo_url}/webhook", trigger_row(enabled=False))
    async with (
        runner_worker(dev_env.client, task_queue, manage_store, session_factory, http),
        open_api(dev_env.client) as api,
    ):
        response = await api.post(f"{TRIGGER}/run", headers=keys["acme"])
        assert response.status_code == 202
        body = response.json()
        invocation_id, workflow_id = body["invocation_id"], body["workflow_id"]
        assert body["status"] == "pending"
        assert workflow_id.startswith("trigger-run:acme:ops:bot:daily:manual-")
        assert response.headers["location"] == f"{PROJECT}/invocations/{invocation_id}"

        outcome = await _result(dev_env, workflow_id)
        assert (outcome.invocation_id, outcome.status) == (invocation_id, "completed")
        shown = await api.get(f"{PROJECT}/invocations/{invocation_id}", headers=keys["acme"])
        nested = await api.get(f"{TRIGGER}/invocations/{invocation_id}", headers=keys["acme"])

    assert shown.status_code == 200
    assert nested.json() == shown.json()
    invocation = shown.json()
    attempts = invocation.pop("attempts")
    times = {
        name: invocation.pop(name)
        for name in ("scheduled_for", "created_at", "started_at", "finished_at", "deadline_at")
    }
    # The request instant, shown to the second like every timestamp the API emits (stored to
    # the microsecond, so manual runs of one trigger never share a key).
    assert times.pop("scheduled_for") == "2024-03-05T12:30:15Z"
    assert all(value is not None for value in times.values())
    assert invocation == {
        "id": invocation_id,
        "tenant_id": "acme",
        "project_id": "ops",
        "agent_id": "bot",
        "trigger_id": "daily",
        "kind": "manual",
        "fire_at": None,
        "workflow_id": workflow_id,
        "status": "completed",
        "status_reason": None,
        "cancel_requested": False,
        "trigger_version": 1,
        "message": "Report for 2024-03-05T12:30:15Z",
        "attempt_count": 1,
        "max_attempts": 4,
    }
    [attempt] = attempts
    assert (attempt["attempt_number"], attempt["status"], attempt["http_status"]) == (
        1,
        "succeeded",
        200,
    )
    assert attempt["response_excerpt"] == f'{{"received":true,"invocation_id":"{invocation_id}"}}'
    [received] = await _received(echo_url, http)
    assert (received["path"], received["idempotency_key"], received["message"]) == (
        "/webhook",
        invocation_id,
        "Report for 2024-03-05T12:30:15Z",
    )


async def test_a_pending_run_cancelled_never_delivers(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    keys: dict[str, dict[str, str]],
    open_api: OpenApi,
    echo_url: str,
    http: httpx.AsyncClient,
) -> None:
    seed(manage_store, f"{echo_url}/webhook")
    async with open_api(dev_env.client) as api:
        # No worker polls yet, so the run is still pending when the cancel lands.
        started = (await api.post(f"{TRIGGER}/run", headers=keys["acme"])).json()
        invocation_id = started["invocation_id"]
        cancelled = await api.post(
            f"{TRIGGER}/invocations/{invocation_id}/cancel", headers=keys["acme"]
        )
        again = await api.post(
            f"{PROJECT}/invocations/{invocation_id}/cancel", headers=keys["acme"]
        )
        async with runner_worker(dev_env.client, task_queue, manage_store, session_factory, http):
            outcome = await _result(dev_env, started["workflow_id"])

    assert cancelled.status_code == 200
    assert {
        k: cancelled.json()[k] for k in ("id", "status", "status_reason", "cancel_requested")
    } == {
        "id": invocation_id,
        "status": "cancelled",
        "status_reason": "cancelled by alice",
        "cancel_requested": True,
    }
    assert cancelled.json()["finished_at"] == "2024-03-05T12:30:15Z"
    assert again.status_code == 409
    assert again.json()["detail"] == "The invocation has already ended (cancelled)."
    assert (outcome.status, outcome.attempts) == ("cancelled", 0)
    assert await _received(echo_url, http) == []


async def test_a_rerun_delivers_the_original_instant_again_as_a_new_invocation(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    keys: dict[str, dict[str, str]],
    open_api: OpenApi,
    echo_url: str,
    http: httpx.AsyncClient,
) -> None:
    seed(manage_store, f"{echo_url}/a2a", protocol="a2a")
    original = _invocation(session_factory, "2024-03-04T09:00:00Z", status="failed")
    open_one = _invocation(session_factory, "2024-03-05T09:00:00Z", status=None)
    async with (
        runner_worker(dev_env.client, task_queue, manage_store, session_factory, http),
        open_api(dev_env.client) as api,
    ):
        response = await api.post(f"{PROJECT}/invocations/{original}/rerun", headers=keys["acme"])
        refused = await api.post(f"{PROJECT}/invocations/{open_one}/rerun", headers=keys["acme"])
        assert response.status_code == 202
        rerun = response.json()
        outcome = await _result(dev_env, rerun["workflow_id"])
        shown = (
            await api.get(f"{PROJECT}/invocations/{rerun['invocation_id']}", headers=keys["acme"])
        ).json()

    assert rerun["rerun_of"] == original and rerun["invocation_id"] != original
    assert refused.status_code == 409
    assert outcome.status == "completed"
    assert (shown["kind"], shown["status"], shown["message"]) == (
        "rerun",
        "completed",
        "Report for 2024-03-04T09:00:00Z",
    )
    [received] = await _received(echo_url, http)
    assert (received["path"], received["idempotency_key"], received["message"]) == (
        "/a2a",
        rerun["invocation_id"],
        "Report for 2024-03-04T09:00:00Z",
    )


async def test_invocations_are_listed_newest_first_paged_and_filtered(
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    keys: dict[str, dict[str, str]],
    open_api: OpenApi,
) -> None:
    ids = [
        _invocation(session_factory, f"2024-03-0{day}T09:00:00Z", status=status)
        for day, status in ((1, "completed"), (2, "failed"), (3, "completed"), (4, None))
    ]
    async with open_api(None) as api:
        everything = await api.get(f"{TRIGGER}/invocations", headers=keys["acme"])
        first = await api.get(f"{TRIGGER}/invocations?limit=1", headers=keys["acme"])
        cursor = first.json()["next_cursor"]
        page = await api.get(
            f"{TRIGGER}/invocations", params={"limit": 2, "cursor": cursor}, headers=keys["acme"]
        )
        last = await api.get(
            f"{TRIGGER}/invocations",
            params={"limit": 2, "cursor": page.json()["next_cursor"]},
            headers=keys["acme"],
        )
        done = await api.get(f"{PROJECT}/invocations?status=completed", headers=keys["acme"])
        other_trigger = await api.get(
            f"{PROJECT}/agents/bot/triggers/weekly/invocations", headers=keys["acme"]
        )

    assert [i["id"] for i in everything.json()["items"]] == ids[::-1]
    assert [i["status"] for i in everything.json()["items"]] == [
        "pending",
        "completed",
        "failed",
        "completed",
    ]
    assert [i["id"] for i in first.json()["items"]] == [ids[3]]
    assert [i["id"] for i in page.json()["items"]] == [ids[2], ids[1]]
    assert ([i["id"] for i in last.json()["items"]], last.json()["next_cursor"]) == ([ids[0]], None)
    assert [i["id"] for i in done.json()["items"]] == [ids[2], ids[0]]
    assert other_trigger.json()["items"] == []


async def test_bad_requests_are_named_and_other_tenants_see_nothing(
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    keys: dict[str, dict[str, str]],
    open_api: OpenApi,
) -> None:
    seed(manage_store, "http://127.0.0.1:9/hook")
    invocation_id = _invocation(session_factory, "2024-03-01T09:00:00Z", status="completed")
    async with open_api(None) as api:
        anonymous = await api.post(f"{TRIGGER}/run")
        foreign_run = await api.post(f"{TRIGGER}/run", headers=keys["other"])
        foreign_get = await api.get(f"{PROJECT}/invocations/{invocation_id}", headers=keys["other"])
        unknown = await api.post(f"{PROJECT}/agents/bot/triggers/nope/run", headers=keys["acme"])
        no_temporal = await api.post(f"{TRIGGER}/run", headers=keys["acme"])
        bad_id = await api.get(f"{PROJECT}/invocations/not-a-uuid", headers=keys["acme"])
        bad_status = await api.get(f"{TRIGGER}/invocations?status=done", headers=keys["acme"])
        bad_limit = await api.get(f"{TRIGGER}/invocations?limit=0", headers=keys["acme"])
        wrong_trigger = await api.get(
            f"{PROJECT}/agents/bot/triggers/weekly/invocations/{invocation_id}",
            headers=keys["acme"],
        )

    assert anonymous.status_code == 401
    assert (foreign_run.status_code, foreign_get.status_code) == (404, 404)
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "Trigger not found.")
    assert no_temporal.status_code == 503
    assert (bad_id.status_code, bad_id.json()["errors"]) == (
        422,
        [{"field": "invocation_id", "message": "must be a UUID"}],
    )
    assert (bad_status.status_code, [e["field"] for e in bad_status.json()["errors"]]) == (
        422,
        ["status"],
    )
    assert (bad_limit.status_code, [e["field"] for e in bad_limit.json()["errors"]]) == (
        422,
        ["limit"],
    )
    assert wrong_trigger.status_code == 404
    assert len(all_invocations(session_factory)) == 1  # nothing was started or written


def _invocation(
    session_factory: sessionmaker[Session], scheduled_for: str, *, status: str | None
) -> str:
    """An invocation of acme/ops/bot/daily in its own transaction (so created_at orders them)."""
    when = datetime.fromisoformat(scheduled_for)
    key = InvocationKey("acme", "ops", "bot", "daily", when, "scheduled")
    with session_factory.begin() as session:
        row, _ = create_invocation(session, key, workflow_id=f"wf-{scheduled_for}")
        if status is not None:
            finish(session, row.id, status=status, reason=None, now=when)
        return str(row.id)
