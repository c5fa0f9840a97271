"""A request lost to an agent closing a kept-alive connection is sent once more, on a new one.

The agent (`ClosingAgent`) closes a connection at a chosen request without answering: the race
in which an agent closes an idle connection just as the client reuses it.
"""

from __future__ import annotations

import httpx

from runner.agents import deliver
from telemetry.metrics import REGISTRY
from tests.runner.conftest import ClosingAgent
from tests.runner.test_agents import delivery, failure


def _resends() -> float:
    return REGISTRY.get_sample_value("timekeeper_delivery_resends_total") or 0.0


async def test_a_request_lost_on_a_reused_connection_is_sent_again_on_a_new_one(
    client: httpx.AsyncClient, closing_agent: tuple[ClosingAgent, str]
) -> None:
    agent, url = closing_agent
    agent.answers = lambda connection, nth: nth == 1
    before = _resends()
    first = await deliver(client, delivery(url))
    second = await deliver(client, delivery(url, attempt=2))
    assert (first.ok, first.http_status, second.ok, second.http_status) == (True, 200, True, 200)
    assert agent.received == [(0, 1, "inv-0001"), (0, 2, "inv-0001"), (1, 1, "inv-0001")]
    assert _resends() - before == 1


async def test_a_request_dropped_on_a_new_connection_is_not_sent_again(
    client: httpx.AsyncClient, closing_agent: tuple[ClosingAgent, str]
) -> None:
    agent, url = closing_agent
    agent.answers = lambda connection, nth: False
    before = _resends()
    result = await deliver(client, delivery(url))
    assert failure(result) == (False, True, None, "connection_error")
    assert result.error_message == (
        "RemoteProtocolError: Server disconnected without sending a response."
    )
    assert agent.received == [(0, 1, "inv-0001")]
    assert _resends() - before == 0


async def test_a_request_is_sent_again_once_at_most(
    client: httpx.AsyncClient, closing_agent: tuple[ClosingAgent, str]
) -> None:
    agent, url = closing_agent
    agent.answers = lambda connection, nth: connection == 0 and nth == 1
    before = _resends()
    assert (await deliver(client, delivery(url))).ok
    result = await deliver(client, delivery(url, attempt=2))
    assert failure(result) == (False, True, None, "connection_error")
    assert agent.received == [(0, 1, "inv-0001"), (0, 2, "inv-0001"), (1, 1, "inv-0001")]
    assert _resends() - before == 1
