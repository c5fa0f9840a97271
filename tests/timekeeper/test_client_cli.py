"""The CLI client against a live API (uvicorn on a free port, real stores): each command's exact
output as a table and as JSON; an API error exits 1 with the API's own message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from manage_db.store import ManageStore
from runtime_db.api_keys import create_key
from service.context import ServiceContext
from tests.runner.conftest import serve
from timekeeper import cli
from timekeeper.app import create_app

NOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
def live_api(
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    with session_factory.begin() as session:
        key, _ = create_key(session, tenant_id="acme", is_admin=False, principal="alice")
    ctx = ServiceContext(
        session_factory, manage_store, time_skipping_env.client, task_queue, now=lambda: NOW
    )
    with serve(create_app(ctx)) as url:
        monkeypatch.setenv("TIMEKEEPER_URL", url)
        monkeypatch.setenv("TIMEKEEPER_API_KEY", key)
        yield url


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.run(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_projects_agents_and_triggers_as_tables(
    live_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "projects", "create", "acme/web", "--name", "Web")[0] == 0
    assert _run(capsys, "projects", "list", "acme") == (0, "ID   NAME\nweb  Web\n", "")
    endpoint = "http://127.0.0.1:9/hook"
    assert _run(capsys, "agents", "create", "acme/web/echo", "--name", "Echo",
                "--endpoint", endpoint)[0] == 0  # fmt: skip
    assert _run(capsys, "agents", "list", "acme/web") == (
        0,
        f"ID    NAME  PROTOCOL  URL\necho  Echo  webhook   {endpoint}\n",
        "",
    )
    body = {
        "id": "daily",
        "name": "Daily",
        "cron_expression": "0 9 * * *",
        "cron_timezone": "Europe/Paris",
        "message_template": "hi",
    }
    created = _run(capsys, "triggers", "create", "acme/web/echo", "--json", json.dumps(body))
    assert created[0] == 0
    assert "\nnext_run_at            2026-03-03T08:00:00Z\n" in created[1]

    listed = _run(capsys, "triggers", "list", "acme/web/echo")

    assert listed == (
        0,
        "ID     STATUS  SCHEDULE                 NEXT RUN\n"
        "daily  active  At 09:00 (Europe/Paris)  "
        "2026-03-03 09:00 Europe/Paris (2026-03-03T08:00:00Z)\n",
        "",
    )
    upcoming = _run(capsys, "triggers", "upcoming", "acme/web/echo/daily", "--count", "2")
    assert upcoming == (
        0,
        "UTC                   LOCAL                      STARTS                SKIPPED\n"
        "2026-03-03T08:00:00Z  2026-03-03T09:00:00+01:00  2026-03-03T08:00:00Z\n"
        "2026-03-04T08:00:00Z  2026-03-04T09:00:00+01:00  2026-03-04T08:00:00Z\n",
        "",
    )
    skipped = _run(capsys, "triggers", "skip", "acme/web/echo/daily", "--next", "1", "-o", "json")
    assert json.loads(skipped[1])["skipped"] == ["2026-03-03T08:00:00Z"]
    assert _run(capsys, "triggers", "upcoming", "acme/web/echo/daily", "--count", "1")[1] == (
        "UTC                   LOCAL                      STARTS                SKIPPED\n"
        "2026-03-03T08:00:00Z  2026-03-03T09:00:00+01:00  2026-03-03T08:00:00Z  yes\n"
    )
    unskipped = _run(capsys, "triggers", "unskip", "acme/web/echo/daily", "--instant",
                     "2026-03-03T08:00:00Z", "-o", "json")  # fmt: skip
    assert json.loads(unskipped[1])["skipped"] == []
    preview = _run(capsys, "triggers", "preview", "acme/web", "--cron", "*/15 * * * *",
                   "--count", "2")  # fmt: skip
    assert preview == (
        0,
        "Every 15 minutes\n"
        "UTC                   LOCAL                      STARTS                SKIPPED\n"
        "2026-03-02T12:15:00Z  2026-03-02T12:15:00+00:00  2026-03-02T12:15:00Z\n"
        "2026-03-02T12:30:00Z  2026-03-02T12:30:00+00:00  2026-03-02T12:30:00Z\n",
        "",
    )
    span = ("--start", "2026-02-28T00:00:00Z", "--end", "2026-03-02T00:00:00Z")
    backfill = _run(capsys, "triggers", "backfill", "acme/web/echo/daily", *span, "-o", "json")
    assert json.loads(backfill[1]) == {
        "instants": ["2026-02-28T08:00:00Z", "2026-03-01T08:00:00Z"],
        "started": 2,
    }
    bad = _run(capsys, "triggers", "preview", "acme/web", "--cron", "61 * * * *")
    assert bad[0] == 1 and "cron_expression" in bad[2]


def test_json_output_is_the_api_answer_and_runs_and_invocations_work(
    live_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "projects", "create", "acme/web", "--name", "Web")
    _run(capsys, "agents", "create", "acme/web/echo", "--name", "Echo", "--endpoint", "http://x")
    body = {
        "id": "hourly",
        "name": "Hourly",
        "cron_expression": "0 * * * *",
        "message_template": "m",
    }
    _run(capsys, "triggers", "create", "acme/web/echo", "--json", json.dumps(body))

    status, out, _ = _run(capsys, "triggers", "get", "acme/web/echo/hourly", "-o", "json")
    disabled = json.loads(_run(capsys, "triggers", "disable", "acme/web/echo/hourly", "--note",
                               "maintenance until Monday", "-o", "json")[1])  # fmt: skip
    run = json.loads(_run(capsys, "triggers", "run", "acme/web/echo/hourly", "-o", "json")[1])
    invocations = _run(capsys, "invocations", "list", "acme/web", "-o", "json")
    one = _run(capsys, "invocations", "get", "acme/web", run["invocation_id"], "-o", "json")

    assert status == 0
    trigger = json.loads(out)
    assert (trigger["id"], trigger["next_run_at"], trigger["version"]) == (
        "hourly",
        "2026-03-02T13:00:00Z",
        1,
    )
    assert (disabled["enabled"], disabled["next_run_at"], disabled["version"]) == (False, None, 2)
    assert (disabled["status"], disabled["pause"]) == (
        "paused",
        {"note": "maintenance until Monday", "by": "alice", "at": "2026-03-02T12:00:30Z"},
    )
    assert [(i["id"], i["kind"], i["status"]) for i in json.loads(invocations[1])] == [
        (run["invocation_id"], "manual", "pending")
    ]
    assert json.loads(one[1])["id"] == run["invocation_id"]


def test_an_api_error_exits_1_with_the_apis_message(
    live_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "projects", "create", "acme/web", "--name", "Web")
    _run(capsys, "agents", "create", "acme/web/echo", "--name", "Echo", "--endpoint", "http://x")
    missing = _run(capsys, "triggers", "get", "acme/web/echo/nope")
    bad = {"id": "bad", "name": "Bad", "cron_expression": "61 * * * *", "message_template": "m"}
    invalid = _run(capsys, "triggers", "create", "acme/web/echo", "--json", json.dumps(bad))
    wrong_ref = _run(capsys, "triggers", "get", "acme/web")

    assert missing == (1, "", "error: Trigger nope not found. (HTTP 404)\n")
    assert invalid == (
        1,
        "",
        "error: The request has invalid fields. (HTTP 422)\n"
        "  cron_expression: minute field '61' is invalid (allowed 0-59)\n",
    )
    assert wrong_ref == (
        1,
        "",
        "error: expected TENANT/PROJECT/AGENT/TRIGGER, got 'acme/web'\n",
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.run(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("timekeeper 0.")


def test_alert_hooks_are_managed_from_the_cli(
    live_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "projects", "create", "acme/web", "--name", "Web")
    created = _run(capsys, "alerts", "create", "acme/web/pager", "--hook-url", "https://ops.example/tk",
                   "--event", "invocation.failed", "--event", "invocation.missed",
                   "--secret-env", "TK_ALERT_SECRET")  # fmt: skip
    assert created == (
        0,
        "id          pager\n"
        "url         https://ops.example/tk\n"
        'events      ["invocation.failed", "invocation.missed"]\n'
        "secret_env  TK_ALERT_SECRET\n"
        "created_at  2026-03-02T12:00:30Z\n"
        "updated_at  2026-03-02T12:00:30Z\n",
        "",
    )
    assert _run(capsys, "alerts", "list", "acme/web") == (
        0,
        "ID     EVENTS                                URL                     SIGNED\n"
        "pager  invocation.failed, invocation.missed  https://ops.example/tk  yes\n",
        "",
    )
    assert _run(capsys, "alerts", "deliveries", "acme/web/pager", "-o", "json") == (0, "[]\n", "")
    bad = _run(capsys, "alerts", "update", "acme/web/pager", "--hook-url", "https://ops.example/tk",
               "--event", "run.exploded")  # fmt: skip
    assert bad[0] == 1
    assert bad[2].startswith("error: ") and "events.0" in bad[2]
    assert _run(capsys, "alerts", "delete", "acme/web/pager")[0] == 0
    missing = _run(capsys, "alerts", "get", "acme/web/pager")
    assert missing == (1, "", "error: Alert pager not found. (HTTP 404)\n")
