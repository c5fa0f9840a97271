"""`POST /v1/deploy/restart-scheduler`: bearer secret, a generation per deployment, newest wins."""

import asyncio
import hashlib
import hmac
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

from deploy_hooks.routes import DeployContext
from deploy_hooks.secret import secret_matches
from dispatcher.models import SchedulerInput
from manage_db.store import ManageStore
from runtime_db.models import SchedulerGeneration
from runtime_db.scheduler_state import current_state
from service.context import ServiceContext
from tests.conftest import DeploymentWorkers
from tests.deploy_hooks.conftest import SECRET
from timekeeper.app import create_app
from timekeeper.embedded import free_port

UNAUTHORIZED = {
    "type": "about:blank",
    "title": "Unauthorized",
    "status": 401,
    "detail": "Not authorized.",
}


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        _auth("wrong"),
        _auth(SECRET + "x"),
        _auth(SECRET[:-1]),
        {"Authorization": SECRET},
        {"Authorization": f"Basic {SECRET}"},
    ],
    ids=["missing", "wrong", "longer", "shorter", "no-scheme", "basic"],
)
async def test_anything_but_the_right_secret_gets_a_generic_401(
    hook: httpx.AsyncClient, headers: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    response = await hook.post(
        "/v1/deploy/restart-scheduler", json={"deployment_id": "d1"}, headers=headers
    )
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(SchedulerGeneration)) == 0


def test_the_secret_comparison_is_constant_time_over_digests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both sides are hashed first, so the comparison's time says nothing of the length."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    assert secret_matches("abc", "abc") is True
    assert secret_matches("a-much-longer-guess", "abc") is False
    assert [(len(a), len(b)) for a, b in compared] == [(32, 32), (32, 32)]
    assert compared[1] == (
        hashlib.sha256(b"a-much-longer-guess").digest(),
        hashlib.sha256(b"abc").digest(),
    )
    assert secret_matches("", "abc") is False
    assert secret_matches("abc", None) is False


async def test_the_right_secret_starts_the_deployments_scheduler_once(
    hook: httpx.AsyncClient,
    deployment_workers: DeploymentWorkers,
    session_factory: sessionmaker[Session],
    deploy_context: DeployContext,
) -> None:
    await deployment_workers.start("d1")
    first = await hook.post(
        "/v1/deploy/restart-scheduler", json={"deployment_id": "d1"}, headers=_auth(SECRET)
    )
    again = await hook.post(
        "/v1/deploy/restart-scheduler", json={"deployment_id": "d1"}, headers=_auth(SECRET)
    )
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"workflow_id", "run_id", "generation", "previous"}
    assert (body["workflow_id"], body["generation"], body["previous"]) == (
        "timekeeper-scheduler:d1",
        1,
        None,
    )
    assert isinstance(body["run_id"], str) and body["run_id"]
    assert again.status_code == 200
    assert again.json() == body
    client = deploy_context.temporal
    history = await client.get_workflow_handle(body["workflow_id"]).fetch_history()
    attributes = history.events[0].workflow_execution_started_event_attributes
    [started] = await client.data_converter.decode(attributes.input.payloads, [SchedulerInput])
    assert started.lead_ms == 30_000  # the deployment's one-time lead
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(SchedulerGeneration)) == 1


async def test_the_newest_generation_wins_when_two_restarts_race(
    hook: httpx.AsyncClient,
    deployment_workers: DeploymentWorkers,
    session_factory: sessionmaker[Session],
    time_skipping_env: WorkflowEnvironment,
) -> None:
    await deployment_workers.start("d-blue")
    await deployment_workers.start("d-green")
    blue, green = await asyncio.gather(
        hook.post(
            "/v1/deploy/restart-scheduler",
            json={"deployment_id": "d-blue"},
            headers=_auth(SECRET),
        ),
        hook.post(
            "/v1/deploy/restart-scheduler",
            json={"deployment_id": "d-green"},
            headers=_auth(SECRET),
        ),
    )
    assert (blue.status_code, green.status_code) == (200, 200)
    generations = {blue.json()["generation"], green.json()["generation"]}
    assert generations == {1, 2}
    newest, older = (blue, green) if blue.json()["generation"] == 2 else (green, blue)

    client = time_skipping_env.client
    await time_skipping_env.sleep(timedelta(seconds=120))  # two ticks: the older one looks up
    older_handle = client.get_workflow_handle(older.json()["workflow_id"])
    assert (await older_handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    outcome = await older_handle.result()
    assert outcome["reason"] == "superseded"
    newest_handle = client.get_workflow_handle(newest.json()["workflow_id"])
    assert (await newest_handle.describe()).status == WorkflowExecutionStatus.RUNNING
    with session_factory() as session:
        state = current_state(session)
        assert state is not None
        assert (state.generation, state.workflow_id) == (2, newest.json()["workflow_id"])
    await newest_handle.terminate("test over")


async def test_bad_bodies_are_4xx_naming_the_problem(hook: httpx.AsyncClient) -> None:
    malformed = await hook.post(
        "/v1/deploy/restart-scheduler", content=b"{not json", headers=_auth(SECRET)
    )
    assert malformed.status_code == 400
    assert malformed.json()["detail"] == "The body is not valid JSON."
    invalid = await hook.post(
        "/v1/deploy/restart-scheduler",
        json={"deployment_id": "bad id with spaces"},
        headers=_auth(SECRET),
    )
    assert invalid.status_code == 422
    assert [e["field"] for e in invalid.json()["errors"]] == ["deployment_id"]


async def test_an_internal_failure_answers_500_without_internal_details(
    deploy_context: DeployContext,
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = await Client.connect(
        f"127.0.0.1:{free_port()}", lazy=True, retry_config=RetryConfig(max_retries=0)
    )
    broken = replace(deploy_context, temporal=unreachable)
    app = create_app(ServiceContext(session_factory, manage_store, unreachable, "q"), broken)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/v1/deploy/restart-scheduler", json={"deployment_id": "d9"}, headers=_auth(SECRET)
        )
    assert response.status_code == 500
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "The scheduler could not be restarted.",
    }
    assert "restart-scheduler failed for deployment d9" in caplog.text


async def test_a_pathologically_nested_body_is_a_400(hook: httpx.AsyncClient) -> None:
    response = await hook.post(
        "/v1/deploy/restart-scheduler",
        content=b"[" * 100_000 + b"]" * 100_000,
        headers=_auth(SECRET),
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "The body is not valid JSON."


async def test_repeating_an_older_deployment_after_a_newer_one_is_a_409(
    hook: httpx.AsyncClient,
    deployment_workers: DeploymentWorkers,
    session_factory: sessionmaker[Session],
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A rollback that reuses an old deployment id must fail loudly, not report success."""
    await deployment_workers.start("v1")
    await deployment_workers.start("v2")
    v1 = await hook.post(
        "/v1/deploy/restart-scheduler", json={"deployment_id": "v1"}, headers=_auth(SECRET)
    )
    v2 = await hook.post(
        "/v1/deploy/restart-scheduler", json={"deployment_id": "v2"}, headers=_auth(SECRET)
    )
    assert (v1.status_code, v2.status_code) == (200, 200)
    await time_skipping_env.sleep(timedelta(seconds=120))  # v2 registers; v1 sees it lost
    with session_factory() as session:
        state = current_state(session)
        assert state is not None and state.deployment_id == "v2"

    again = await hook.post(
        "/v1/deploy/restart-scheduler", json={"deployment_id": "v1"}, headers=_auth(SECRET)
    )

    assert again.status_code == 409
    assert again.json()["detail"] == (
        "Deployment v1 is older than the running scheduler; "
        "roll out under a new deployment_id to move the scheduler."
    )
    with session_factory() as session:
        state = current_state(session)
        assert state is not None and state.deployment_id == "v2"
    await time_skipping_env.client.get_workflow_handle(v2.json()["workflow_id"]).terminate("done")
