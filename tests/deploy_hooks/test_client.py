"""`timekeeper restart-scheduler`, as CI runs it: real servers, real exit codes."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp

from deploy_hooks.client import restart_scheduler
from deploy_hooks.routes import DeployContext
from manage_db.store import ManageStore
from service.context import ServiceContext
from tests.conftest import DeploymentWorkers
from tests.deploy_hooks.conftest import SECRET
from tests.runner.conftest import Reply, ScriptedAgent, serve
from timekeeper.app import create_app
from timekeeper.cli import run
from timekeeper.embedded import free_port


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield


@contextlib.asynccontextmanager
async def _served_here(app: ASGIApp) -> AsyncIterator[str]:
    """Serve on this event loop (the app's Temporal client belongs to it)."""
    port = free_port()
    server = _QuietServer(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_cli_restarts_the_scheduler_and_prints_the_run(
    deploy_context: DeployContext,
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    deployment_workers: DeploymentWorkers,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIMEKEEPER_DEPLOY_SECRET", SECRET)
    await deployment_workers.start("release-42")
    ctx = ServiceContext(session_factory, manage_store, deploy_context.temporal, "unused")
    async with _served_here(create_app(ctx, deploy_context)) as url:
        status = await asyncio.to_thread(
            run, ["restart-scheduler", "--url", url, "--deployment-id", "release-42"]
        )
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["workflow_id"], printed["generation"], printed["previous"]) == (
        "timekeeper-scheduler:release-42",
        1,
        None,
    )


def test_cli_retries_transient_failures_then_succeeds() -> None:
    agent = ScriptedAgent()
    agent.script(
        Reply(503, {"detail": "starting"}),
        Reply(502, b"bad gateway"),
        Reply(200, {"workflow_id": "w", "run_id": "r", "generation": 7, "previous": 6}),
    )
    delays: list[float] = []
    with serve(agent) as url:
        outcome = restart_scheduler(
            url, "d7", SECRET, attempts=5, backoff_seconds=0.5, sleep=delays.append
        )
    assert outcome.ok is True
    assert outcome.attempts == 3
    assert delays == [0.5, 1.0]
    assert [r.json() for r in agent.requests] == [{"deployment_id": "d7"}] * 3
    assert agent.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_cli_exits_1_at_once_on_a_wrong_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = ScriptedAgent()
    agent.script(Reply(401, {"title": "Unauthorized", "detail": "Not authorized."}))
    monkeypatch.setenv("TIMEKEEPER_DEPLOY_SECRET", "wrong")
    with serve(agent) as url:
        status = run(["restart-scheduler", "--url", url, "--deployment-id", "d1"])
    assert status == 1
    assert len(agent.requests) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {url}/v1/deploy/restart-scheduler answered 401: Not authorized."
    )


def test_cli_exits_1_when_the_hook_stays_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIMEKEEPER_DEPLOY_SECRET", SECRET)
    url = f"http://127.0.0.1:{free_port()}"
    status = run(
        [
            *("restart-scheduler", "--url", url, "--deployment-id", "d1"),
            *("--attempts", "3", "--backoff", "0"),
        ]
    )
    assert status == 1
    assert capsys.readouterr().err.strip() == (
        "error: gave up after 3 attempts; last: "
        f"cannot reach {url}/v1/deploy/restart-scheduler: ConnectError"
    )


def test_cli_exits_2_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TIMEKEEPER_DEPLOY_SECRET", raising=False)
    monkeypatch.chdir("/")  # no .env to pick a secret up from
    status = run(["restart-scheduler", "--url", "http://127.0.0.1:1", "--deployment-id", "d1"])
    assert status == 2
    assert capsys.readouterr().err.strip() == "error: TIMEKEEPER_DEPLOY_SECRET is not set"
