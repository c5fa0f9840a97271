"""The worker's HTTP clients for agents: many small connection pools instead of one large one.

httpcore's pool (1.0.9) looks over every connection it holds each time it takes a request or
gets one back, and asks the kernel whether each idle one is readable. One pool holding a
minute's 1,000 connections spends the burst in that loop, on the worker's event loop: a burst
of 1,000 posts to a local agent took 1.9-8.0 s through one pool and 1.3-2.0 s through 63
(`bench/agent_pools.py`, BENCHMARKS.md). An attempt takes the pools in turn.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx

# Deliveries a pool holds in a burst that fills the worker; more pools for more.
DELIVERIES_PER_POOL = 16


@asynccontextmanager
async def agent_clients(in_flight: int) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """Clients for up to `in_flight` deliveries at once, closed when the block ends.

    Each may open a connection for every delivery in flight: taken in turn they share a burst
    evenly, and no attempt waits for a connection (a wait its own timeout would count) while
    another pool has room. Each keeps every idle connection until it expires (httpx: 5 s), for
    the pool closes a surplus idle connection even after handing it to a waiting request, and
    under a burst that request could go on being handed closed connections past its timeout
    (encode/httpcore#1110). They share one TLS context, loaded once.
    """
    count = max(1, math.ceil(in_flight / DELIVERIES_PER_POOL))
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    tls = httpx.create_ssl_context()
    async with AsyncExitStack() as stack:
        clients = [httpx.AsyncClient(limits=limits, verify=tls) for _ in range(count)]
        for client in clients:
            await stack.enter_async_context(client)
        yield tuple(clients)
