"""The agents' clients: a burst spread over small pools, a connection per delivery in flight."""

from __future__ import annotations

import asyncio
from itertools import cycle

from runner.agents import deliver
from runner.agents.pools import agent_clients
from tests.runner.conftest import ClosingAgent
from tests.runner.test_agents import delivery


async def test_a_burst_gets_a_connection_per_delivery_and_the_next_burst_reuses_them(
    closing_agent: tuple[ClosingAgent, str],
) -> None:
    agent, url = closing_agent
    async with agent_clients(64) as clients:
        assert len(clients) == 4
        turn = cycle(clients)

        async def burst(first: int) -> list[int | None]:
            results = await asyncio.gather(
                *(
                    deliver(next(turn), delivery(url, invocation_id=f"inv-{first + i}"))
                    for i in range(64)
                )
            )
            return [result.http_status for result in results]

        # No answer comes before all 64 requests have arrived: each needs its own connection.
        agent.hold_until = 64
        assert await burst(0) == [200] * 64
        assert agent.connections == 64
        # All 64 stayed open (none has been idle for 5 s), and the next burst reuses them.
        agent.hold_until = 128
        assert await burst(64) == [200] * 64
        assert agent.connections == 64
    assert [client.is_closed for client in clients] == [True] * 4
