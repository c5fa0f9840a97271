"""`GET /metrics` after one run that fires and one that fails: exact counts and a lag observed;
the failed attempt and the final failure each log one line naming every id."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from examples.echo_agent import create_app as create_echo_agent
from manage_db.store import ManageStore
from runner.agents.pools import agent_clients
from runtime_db.api_keys import create_key
from service.context import ServiceContext
from telemetry.logs import JsonFormatter, TextFormatter, fields_of
from telemetry.metrics import REGISTRY
from tests.runner.conftest import serve
from timekeeper.app import create_app
from timekeeper.settings import Settings
from timekeeper.worker import WorkerDeps, build_worker

PROJECT = "/v1/tenants/acme/projects/web"

_SAMPLES = {
    "ok": ("timekeeper_invocations_total", {"status": "completed"}),
    "failed": ("timekeeper_invocations_total", {"status": "failed"}),
    "succeeded_attempts": ("timekeeper_delivery_attempts_total", {"outcome": "succeeded"}),
    "4xx_attempts": ("timekeeper_delivery_attempts_total", {"outcome": "http_4xx"}),
    "lag_count": ("timekeeper_fire_lag_seconds_count", {}),
    "delivery_count": ("timekeeper_delivery_seconds_count", {}),
}


def _values() -> dict[str, float]:
    return {
        name: REGISTRY.get_sample_value(metric, labels) or 0.0
        for name, (metric, labels) in _SAMPLES.items()
    }


def _scraped(text: str) -> dict[str, float]:
    """The same samples, read from the exposition text as Prometheus would."""
    values: dict[str, float] = {}
    for name, (metric, labels) in _SAMPLES.items():
        label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        prefix = f"{metric}{{{label_text}}} " if labels else f"{metric} "
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        values[name] = float(lines[0].split()[-1]) if lines else 0.0
    return values


async def _until_ended(api: httpx.AsyncClient, path: str, env: WorkflowEnvironment) -> str:
    for _ in range(100):
        status = str((await api.get(path)).json()["status"])
        if status not in ("pending", "running"):
            return status
        await env.sleep(1)
    raise AssertionError(f"{path} did not end")


async def test_metrics_count_one_fired_and_one_failed_run(
    session_factory: sessionmaker[Session],
    manage_store: ManageStore,
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with session_factory.begin() as session:
        key, _ = create_key(session, tenant_id="acme", is_admin=False, principal="alice")
    ctx = ServiceContext(session_factory, manage_store, time_skipping_env.client, task_queue)
    transport = httpx.ASGITransport(app=create_app(ctx))
    settings = Settings(_env_file=None, task_queue=task_queue)  # type: ignore[call-arg]  # pydantic-settings' init-only option
    caplog.set_level(logging.WARNING, logger="runner.activities")
    before = _values()
    auth = {"Authorization": f"Bearer {key}"}
    with serve(create_echo_agent()) as agent_url, ThreadPoolExecutor(max_workers=64) as pool:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as api,
            agent_clients(200) as http,
        ):
            deps = WorkerDeps(
                settings, time_skipping_env.client, session_factory, manage_store, http
            )
            async with build_worker(deps, pool):
                await api.post("/v1/tenants/acme/projects", json={"id": "web", "name": "Web"})
                for agent, path in (("echo", "/webhook"), ("broken", "/nowhere")):
                    endpoint = {"url": agent_url + path, "protocol": "webhook"}
                    await api.put(
                        f"{PROJECT}/agents/{agent}", json={"name": agent, "endpoint": endpoint}
                    )
                    created = await api.post(
                        f"{PROJECT}/agents/{agent}/triggers",
                        json={
                            "id": f"{agent}-daily",
                            "name": "Daily",
                            "cron_expression": "0 9 * * *",
                            "message_template": "hello",
                            "max_retries": 0,
                        },
                    )
                    assert created.status_code == 201, created.text
                runs = {}
                for agent in ("echo", "broken"):
                    trigger = f"{PROJECT}/agents/{agent}/triggers/{agent}-daily"
                    started = await api.post(trigger + "/run")
                    assert started.status_code == 202, started.text
                    runs[agent] = f"{trigger}/invocations/{started.json()['invocation_id']}"
                statuses = {
                    a: await _until_ended(api, p, time_skipping_env) for a, p in runs.items()
                }
                scraped = await api.get("/metrics")

    assert statuses == {"echo": "completed", "broken": "failed"}
    after = _values()
    assert {name: after[name] - before[name] for name in after} == {
        "ok": 1,
        "failed": 1,
        "succeeded_attempts": 1,
        "4xx_attempts": 1,
        "lag_count": 2,
        "delivery_count": 2,
    }
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert _scraped(scraped.text) == after
    assert "timekeeper_manage_store_bytes " in scraped.text
    assert "tenant_id" not in scraped.text and "trigger_id" not in scraped.text
    broken = runs["broken"].rsplit("/", 1)[-1]
    ids = {"tenant": "acme", "project": "web", "agent": "broken", "trigger": "broken-daily"}
    lines = [(r.levelname, r.getMessage(), fields_of(r)) for r in caplog.records]
    assert lines == [
        (
            "WARNING",
            "delivery attempt failed",
            {**ids, "invocation": broken, "attempt": 1, "error": "http_4xx: HTTP 404 Not Found"},
        ),
        (
            "ERROR",
            "invocation failed",
            {**ids, "invocation": broken, "attempts": 1, "reason": "http_4xx: HTTP 404 Not Found"},
        ),
    ]
    text = TextFormatter().format(caplog.records[0])
    assert text.endswith(
        "WARNING runner.activities: delivery attempt failed tenant=acme project=web agent=broken"
        f" trigger=broken-daily invocation={broken} attempt=1 error=http_4xx: HTTP 404 Not Found"
    )
    entry = json.loads(JsonFormatter().format(caplog.records[1]))
    assert {k: entry[k] for k in ("level", "message", "invocation", "reason")} == {
        "level": "ERROR",
        "message": "invocation failed",
        "invocation": broken,
        "reason": "http_4xx: HTTP 404 Not Found",
    }
