"""A worker killed with SIGKILL a few seconds into a tick of 200 per-minute triggers, and
restarted at once: every instant of that minute and the next reaches the agent, each exactly
once as an invocation, none missed, and the crashed minute's runs begin within 20 s of their
instant. Real processes: `timekeeper worker` subprocesses on the Temporal dev server, a real
PostgreSQL database, a doltlite file and an HTTP agent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.testing import WorkflowEnvironment

from manage_db.store import ManageStore
from runtime_db.models import Invocation
from service import agents, bulk, projects
from service.context import ServiceContext
from service.inputs import AgentPut, BulkTriggers, ProjectCreate
from service.scope import Scope
from tests.runner.conftest import serve

TRIGGERS = 200
SCOPE = Scope("alice", "acme", "web", "bot")


class Agent:
    """Records every delivery it receives: (trigger, scheduled_for, invocation id)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[str, str, str]] = []

    async def handle(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        with self.lock:
            self.received.append(
                (body["trigger"]["trigger_id"], body["scheduled_for"], body["invocation_id"])
            )
        return JSONResponse({"ok": True})


@pytest.fixture
def agent_url(agent: Agent) -> Iterator[str]:
    with serve(Starlette(routes=[Route("/hook", agent.handle, methods=["POST"])])) as url:
        yield url + "/hook"


@pytest.fixture
def agent() -> Agent:
    return Agent()


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "timekeeper", "worker"], env=env, stdout=out, stderr=out
        )


def _minute_after(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _count(sessions: sessionmaker[Session], instant: datetime) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(Invocation.scheduled_for == instant)) or 0


def _completed(sessions: sessionmaker[Session], instants: list[datetime]) -> int:
    with sessions() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    Invocation.scheduled_for.in_(instants), Invocation.status == "completed"
                )
            )
            or 0
        )


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached within {seconds} s: {what}")


@pytest.mark.timeout(300)  # real minutes: up to 80 s to reach a minute, then two of them
def test_a_worker_killed_mid_tick_loses_and_duplicates_nothing(
    tmp_path: Path,
    runtime_db_url: str,
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    agent: Agent,
    agent_url: str,
) -> None:
    # Seed at least 20 s before a minute, so the worker is up when it comes.
    if (_minute_after(datetime.now(UTC)) - datetime.now(UTC)).total_seconds() < 20:
        time.sleep((_minute_after(datetime.now(UTC)) - datetime.now(UTC)).total_seconds())
    ctx = ServiceContext(session_factory, manage_store, None, task_queue)
    projects.create_project(ctx, SCOPE, ProjectCreate(id="web", name="Web"))
    agents.put_agent(
        ctx,
        SCOPE,
        AgentPut.model_validate(
            {"name": "Bot", "endpoint": {"url": agent_url, "protocol": "webhook"}}
        ),
    )
    triggers = [
        {
            "id": f"t{i:03d}",
            "agent_id": "bot",
            "name": f"Trigger {i}",
            "cron_expression": "* * * * *",
            "message_template": "tick {{scheduled_for}}",
        }
        for i in range(TRIGGERS)
    ]
    bulk.upsert_triggers(ctx, SCOPE, BulkTriggers.model_validate({"triggers": triggers}))
    crashed = _minute_after(datetime.now(UTC))
    following = crashed + timedelta(minutes=1)

    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEKEEPER_")}
    env.update(
        TIMEKEEPER_DATA_DIR=str(tmp_path / "data"),
        TIMEKEEPER_RUNTIME_DATABASE_URL=runtime_db_url,
        TIMEKEEPER_MANAGE_STORE_PATH=str(manage_store.path),
        TIMEKEEPER_TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TIMEKEEPER_TASK_QUEUE=task_queue,
        TIMEKEEPER_DEPLOYMENT_ID=f"crash-{uuid.uuid4().hex[:8]}",
        TIMEKEEPER_DISPATCH_CONCURRENCY="5",
        TIMEKEEPER_LOG_FORMAT="text",
    )
    log = tmp_path / "worker.log"
    first = _worker(env, log)
    try:
        _wait(
            lambda: _count(session_factory, crashed) > 0,
            (crashed - datetime.now(UTC)).total_seconds() + 30,
            "the crashed minute's dispatch began",
        )
        first.kill()
        first.wait(10)
        killed_at = datetime.now(UTC)
        second = _worker(env, log)
        try:
            expected = {(t["id"], instant) for t in triggers for instant in (crashed, following)}
            wanted = {(t, i.strftime("%Y-%m-%dT%H:%M:%SZ")) for t, i in expected}
            _wait(
                lambda: (
                    wanted <= {(t, s) for t, s, _ in agent.received}
                    and _completed(session_factory, [crashed, following]) == 2 * TRIGGERS
                ),
                (following - datetime.now(UTC)).total_seconds() + 45,
                "every instant of both minutes delivered and its invocation completed",
            )
        finally:
            second.terminate()
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    output = log.read_text(errors="replace")

    with session_factory() as session:
        rows = session.scalars(
            select(Invocation).where(Invocation.scheduled_for.in_([crashed, following]))
        ).all()
    assert len(rows) == 2 * TRIGGERS, output[-3000:]
    assert {(r.trigger_id, r.scheduled_for) for r in rows} == expected
    assert {(r.kind, r.status) for r in rows} == {("scheduled", "completed")}
    by_invocation = {(t, s, i) for t, s, i in agent.received}
    assert {i for _, _, i in by_invocation} == {str(r.id) for r in rows}
    killed_after = (killed_at - crashed).total_seconds()
    assert killed_after < 10, f"the worker was killed {killed_after:.1f} s into the minute"
    began = [r.started_at for r in rows if r.scheduled_for == crashed]
    assert len(began) == TRIGGERS and None not in began
    late = max((at - crashed).total_seconds() for at in began if at is not None)
    assert late <= 20, f"the crashed minute's last run began {late:.1f} s after its instant"
