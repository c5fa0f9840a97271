"""Delivery to a real local HTTP agent: exact bodies, headers and outcome classification."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import httpx
import pytest

from examples.echo_agent import create_app
from runner.agents import DeliveryRequest, DeliveryResult, deliver, parse_retry_after
from tests.runner.conftest import Reply, ScriptedAgent, serve

TRIGGER = {
    "tenant_id": "acme",
    "project_id": "ops",
    "agent_id": "reporter",
    "trigger_id": "daily-report",
    "name": "Daily report",
}
PAYLOAD = {"region": "eu", "ids": [1, 2]}
SECRET = "Bearer s3cr3t-token"


def _installed_version() -> str:
    try:
        return metadata.version("timekeeper")
    except metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"timekeeper/{_installed_version()}"


def delivery(url: str, **overrides: Any) -> DeliveryRequest:
    request = DeliveryRequest(
        invocation_id="inv-0001",
        tenant_id="acme",
        project_id="ops",
        agent_id="reporter",
        trigger_id="daily-report",
        trigger_name="Daily report",
        scheduled_for="2025-03-10T13:00:00Z",
        message="Write the daily report",
        payload=PAYLOAD,
        attempt=1,
        url=url,
        protocol="webhook",
        auth_header_env=None,
        timeout_seconds=5.0,
        max_retries=0,
        retry_delay_seconds=1,
    )
    return replace(request, **overrides)


def failure(result: DeliveryResult) -> tuple[bool, bool, int | None, str | None]:
    return result.ok, result.retryable, result.http_status, result.error_class


async def test_webhook_posts_the_invocation_with_headers_and_auth_from_env(
    client: httpx.AsyncClient,
    agent: ScriptedAgent,
    agent_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TK_TEST_AGENT_AUTH", SECRET)
    agent.script(Reply(200, {"ok": True}))
    result = await deliver(
        client, delivery(f"{agent_url}/hook", auth_header_env="TK_TEST_AGENT_AUTH", attempt=2)
    )
    assert (result.ok, result.retryable, result.http_status) == (True, False, 200)
    assert (result.error_class, result.error_message) == (None, None)
    assert result.response_excerpt == '{"ok": true}'
    [seen] = agent.requests
    assert (seen.method, seen.path) == ("POST", "/hook")
    assert seen.json() == {
        "invocation_id": "inv-0001",
        "trigger": TRIGGER,
        "scheduled_for": "2025-03-10T13:00:00Z",
        "message": "Write the daily report",
        "payload": PAYLOAD,
        "attempt": 2,
    }
    assert seen.headers["idempotency-key"] == "inv-0001"
    assert seen.headers["user-agent"] == USER_AGENT
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["authorization"] == SECRET


async def test_no_authorization_header_without_auth_env(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    result = await deliver(client, delivery(f"{agent_url}/hook"))
    assert result.ok is True
    assert "authorization" not in agent.requests[0].headers


async def test_missing_auth_env_var_is_a_config_error_that_names_it_and_sends_nothing(
    client: httpx.AsyncClient,
    agent: ScriptedAgent,
    agent_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TK_TEST_MISSING_AUTH", raising=False)
    result = await deliver(
        client, delivery(f"{agent_url}/hook", auth_header_env="TK_TEST_MISSING_AUTH")
    )
    assert failure(result) == (False, False, None, "config_error")
    assert result.error_message == (
        "environment variable TK_TEST_MISSING_AUTH (auth_header_env) is not set"
    )
    assert agent.requests == []


async def test_auth_value_with_a_newline_is_rejected_without_echoing_it(
    client: httpx.AsyncClient, agent_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TK_TEST_BAD_AUTH", "Bearer abc\r\nX-Evil: 1")
    result = await deliver(
        client, delivery(f"{agent_url}/hook", auth_header_env="TK_TEST_BAD_AUTH")
    )
    assert failure(result) == (False, False, None, "config_error")
    assert result.error_message is not None and "abc" not in result.error_message


async def test_server_error_is_retryable_and_keeps_the_body_excerpt(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    agent.script(Reply(500, "database on fire " * 200, {"content-type": "text/plain"}))
    result = await deliver(client, delivery(f"{agent_url}/hook"))
    assert failure(result) == (False, True, 500, "http_5xx")
    assert result.error_message == "HTTP 500 Internal Server Error"
    assert result.response_excerpt == ("database on fire " * 200)[:2000]
    assert result.retry_after_seconds is None


async def test_503_with_retry_after_is_retryable_and_honours_it(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    agent.script(Reply(503, b"", {"Retry-After": "30"}))
    result = await deliver(client, delivery(f"{agent_url}/hook"))
    assert failure(result) == (False, True, 503, "http_5xx")
    assert result.retry_after_seconds == 30.0
    assert result.response_excerpt is None


async def test_not_found_is_not_retryable(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    agent.script(Reply(404, {"detail": "no such agent"}))
    result = await deliver(client, delivery(f"{agent_url}/hook"))
    assert failure(result) == (False, False, 404, "http_4xx")
    assert result.error_message == "HTTP 404 Not Found"
    assert result.response_excerpt == '{"detail": "no such agent"}'


async def test_request_timeout_408_is_retryable(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    agent.script(Reply(408))
    result = await deliver(client, delivery(f"{agent_url}/hook"))
    assert failure(result) == (False, True, 408, "http_408")


async def test_too_many_requests_429_is_retryable_with_retry_after(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    agent.script(Reply(429, {"error": "slow down"}, {"Retry-After": "7"}))
    result = await deliver(client, delivery(f"{agent_url}/hook"))
    assert failure(result) == (False, True, 429, "http_429")
    assert result.retry_after_seconds == 7.0


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2025, 3, 10, 13, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Mon, 10 Mar 2025 13:00:42 GMT", now) == 42.0
    assert parse_retry_after("Mon, 10 Mar 2025 12:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None


async def test_timeout_aborts_the_call_and_closes_the_connection(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    agent.script(Reply(200, {"late": True}, delay=5.0))
    result = await deliver(client, delivery(f"{agent_url}/hook", timeout_seconds=0.5))
    assert failure(result) == (False, True, None, "timeout")
    assert result.error_message == "no complete response within 0.5s"
    assert 450 <= result.duration_ms < 1500
    assert await agent.wait_disconnect(timeout=3.0)


async def test_a_slow_drip_body_cannot_outlast_the_timeout(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    # Each byte arrives well within the read timeout; only the overall bound stops this.
    agent.script(Reply(200, b"x" * 40, drip=0.1))
    result = await deliver(client, delivery(f"{agent_url}/hook", timeout_seconds=0.5))
    assert failure(result) == (False, True, None, "timeout")
    assert result.duration_ms < 1500
    assert await agent.wait_disconnect(timeout=3.0)
    # The aborted connection was dropped, not pooled: the shared client still delivers.
    again = await deliver(client, delivery(f"{agent_url}/hook"))
    assert (again.ok, again.http_status) == (True, 200)


async def test_connection_refused_is_retryable(
    client: httpx.AsyncClient, closed_port_url: str
) -> None:
    result = await deliver(client, delivery(closed_port_url))
    assert failure(result) == (False, True, None, "connection_error")
    assert result.error_message is not None and result.error_message.startswith("ConnectError")


async def test_unknown_protocol_and_bad_urls_are_config_errors(
    client: httpx.AsyncClient, agent_url: str
) -> None:
    unknown = await deliver(client, delivery(agent_url, protocol="carrier-pigeon"))
    assert failure(unknown) == (False, False, None, "config_error")
    assert unknown.error_message == (
        "unknown agent protocol 'carrier-pigeon'; expected one of ['a2a', 'webhook']"
    )
    no_scheme = await deliver(client, delivery("agent.example/hook"))
    assert failure(no_scheme) == (False, False, None, "config_error")


async def test_a2a_sends_a_jsonrpc_message_send_and_accepts_a_result(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    reply = {"jsonrpc": "2.0", "id": "inv-0001", "result": {"kind": "message", "parts": []}}
    agent.script(Reply(200, reply))
    result = await deliver(client, delivery(f"{agent_url}/a2a", protocol="a2a", attempt=3))
    assert (result.ok, result.http_status, result.error_class) == (True, 200, None)
    [seen] = agent.requests
    assert seen.json() == {
        "jsonrpc": "2.0",
        "id": "inv-0001",
        "method": "message/send",
        "params": {
            "message": {
                "role": "user",
                "messageId": "inv-0001",
                "kind": "message",
                "parts": [{"kind": "text", "text": "Write the daily report"}],
                "metadata": {
                    "trigger": TRIGGER,
                    "scheduled_for": "2025-03-10T13:00:00Z",
                    "payload": PAYLOAD,
                    "attempt": 3,
                },
            }
        },
    }
    assert seen.headers["idempotency-key"] == "inv-0001"
    assert seen.headers["user-agent"] == USER_AGENT


async def test_a2a_jsonrpc_error_is_not_retryable_and_carries_its_message(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    error = {"code": -32602, "message": "Invalid params: no skill for this"}
    agent.script(Reply(200, {"jsonrpc": "2.0", "id": "inv-0001", "error": error}))
    result = await deliver(client, delivery(f"{agent_url}/a2a", protocol="a2a"))
    assert failure(result) == (False, False, 200, "invalid_response")
    assert result.error_message == "JSON-RPC error -32602: Invalid params: no skill for this"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"received": True}, 'response lacks "jsonrpc": "2.0"'),
        ({"jsonrpc": "2.0", "result": {}}, 'response lacks "id"'),
        ({"jsonrpc": "2.0", "id": "other", "result": {}}, "response id 'other' does not match"),
        ({"jsonrpc": "2.0", "id": "inv-0001"}, 'response lacks "result"'),
        ("<html>ok</html>", "response is not JSON"),
        ([1, 2], "response is not a JSON-RPC 2.0 response object"),
    ],
)
async def test_a2a_2xx_without_a_jsonrpc_response_is_an_invalid_response(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str, body: Any, reason: str
) -> None:
    agent.script(Reply(200, body))
    result = await deliver(client, delivery(f"{agent_url}/a2a", protocol="a2a"))
    assert failure(result) == (False, False, 200, "invalid_response")
    assert result.error_message is not None and result.error_message.startswith(reason)


async def test_a2a_http_errors_are_classified_like_webhooks(
    client: httpx.AsyncClient, agent: ScriptedAgent, agent_url: str
) -> None:
    agent.script(Reply(502), Reply(401))
    first = await deliver(client, delivery(f"{agent_url}/a2a", protocol="a2a"))
    second = await deliver(client, delivery(f"{agent_url}/a2a", protocol="a2a"))
    assert failure(first) == (False, True, 502, "http_5xx")
    assert failure(second) == (False, False, 401, "http_4xx")


async def test_echo_agent_answers_both_protocols_and_lists_what_it_received(
    client: httpx.AsyncClient,
) -> None:
    with serve(create_app()) as url:
        hook = await deliver(client, delivery(f"{url}/webhook"))
        a2a = await deliver(
            client,
            delivery(f"{url}/a2a", protocol="a2a", invocation_id="inv-0002", message="ping"),
        )
        listing = await client.get(f"{url}/received")
    assert (hook.ok, hook.http_status) == (True, 200)
    assert hook.response_excerpt == '{"received":true,"invocation_id":"inv-0001"}'
    assert (a2a.ok, a2a.http_status, a2a.error_class) == (True, 200, None)
    assert a2a.response_excerpt is not None
    echoed = json.loads(a2a.response_excerpt)
    assert (echoed["jsonrpc"], echoed["id"]) == ("2.0", "inv-0002")
    assert (echoed["result"]["kind"], echoed["result"]["role"]) == ("message", "agent")
    assert echoed["result"]["parts"] == [{"kind": "text", "text": "ping"}]
    assert listing.status_code == 200
    received = listing.json()
    assert [(r["method"], r["path"], r["idempotency_key"], r["message"]) for r in received] == [
        ("POST", "/webhook", "inv-0001", "Write the daily report"),
        ("POST", "/a2a", "inv-0002", "ping"),
    ]
    assert received[0]["body"]["trigger"] == TRIGGER
    assert received[1]["body"]["params"]["message"]["messageId"] == "inv-0002"
