"""`timekeeper audit [--fix] [--json]` run in-process against real stores: exit 0 when nothing
is wrong after the run, 1 when something found remains, 2 when it could not run."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from dispatcher.control import start_scheduler
from manage_db.store import ManageStore
from manage_db.timestamps import to_db
from runtime_db.schedules import all_schedules
from tests.audit.conftest import (
    add_triggers,
    eventually,
    registered_run,
    scheduler_worker,
    trigger_row,
)
from timekeeper import cli
from timekeeper.embedded import free_port

CHECKED = r"\(checked \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)"


@pytest.fixture
def audit_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runtime_db_url: str, manage_store: ManageStore
) -> pytest.MonkeyPatch:
    for name in [n for n in os.environ if n.startswith("TIMEKEEPER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TIMEKEEPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TIMEKEEPER_RUNTIME_DATABASE_URL", runtime_db_url)
    monkeypatch.setenv("TIMEKEEPER_MANAGE_STORE_PATH", str(manage_store.path))
    return monkeypatch


async def _audit(*args: str) -> int:
    return await asyncio.to_thread(cli.run, ["audit", *args])


async def test_exit_1_while_something_is_wrong_and_0_once_fix_repaired_it(
    audit_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    dev_env: WorkflowEnvironment,
    task_queue: str,
    deployment: str,
) -> None:
    audit_env.setenv(
        "TIMEKEEPER_TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host
    )
    add_triggers(
        manage_store, session_factory, "acme", "web", trigger_row("daily", next_run_at=None)
    )
    async with scheduler_worker(dev_env.client, task_queue, manage_store, session_factory):
        started = await start_scheduler(
            dev_env.client,
            session_factory,
            deployment_id=deployment,
            task_queue=task_queue,
            tick_seconds=86_400,
        )
        await eventually(registered_run(session_factory))

        found = await _audit()
        found_out = capsys.readouterr().out
        fixed = await _audit("--fix", "--json")
        fixed_out = capsys.readouterr().out
        healthy = await _audit()
        healthy_out = capsys.readouterr().out
        await dev_env.client.get_workflow_handle(started.workflow_id).terminate("test over")

    assert found == 1
    lines = found_out.splitlines()
    assert lines[0].split() == ["CHECK", "SUBJECT", "FIXED", "MESSAGE"]
    assert lines[1] == (
        "next_run_missing  tenant_id=acme project_id=web trigger_id=daily  no     "
        "enabled trigger has no next_run_at: it will never fire"
    )
    assert re.fullmatch(rf"unhealthy: 1 found, 0 fixed, 1 remaining {CHECKED}", lines[-1])

    assert fixed == 0
    document = json.loads(fixed_out)
    with session_factory() as session:
        [state] = all_schedules(session)
    assert state.next_run_at is not None
    next_run_at = to_db(state.next_run_at)
    assert next_run_at.endswith("T09:00:00Z")
    assert document["healthy"] is True
    assert [(f["check"], f["fixed"]) for f in document["findings"]] == [("next_run_missing", True)]
    assert document["repairs"][0]["action"] == f"next_run_at set to {next_run_at}"

    assert healthy == 0
    assert re.fullmatch(rf"healthy: nothing found {CHECKED}\n", healthy_out)


async def test_exit_1_without_temporal_the_other_checks_still_run(
    audit_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    audit_env.setenv("TIMEKEEPER_TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")

    status = await _audit("--json")

    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.startswith("warning: Temporal unavailable, scheduler checks skipped: ")
    assert [f["check"] for f in json.loads(captured.out)["findings"]] == ["temporal_unavailable"]


async def test_exit_2_when_the_runtime_store_does_not_answer(
    audit_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dev_env: WorkflowEnvironment
) -> None:
    audit_env.setenv(
        "TIMEKEEPER_TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host
    )
    audit_env.setenv(
        "TIMEKEEPER_RUNTIME_DATABASE_URL", f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    )

    status = await _audit()

    captured = capsys.readouterr()
    assert (status, captured.out) == (2, "")
    assert captured.err.startswith("error: the audit could not run: OperationalError: ")


async def test_exit_2_when_there_is_no_manage_store(
    audit_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    audit_env.setenv("TIMEKEEPER_MANAGE_STORE_PATH", str(tmp_path / "absent.db"))

    status = await _audit()

    assert status == 2
    assert capsys.readouterr().err == f"error: no manage store at {tmp_path / 'absent.db'}\n"
    assert not (tmp_path / "absent.db").exists()
