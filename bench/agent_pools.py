"""Agent connection pools: a burst of deliveries at once, through one pool and through many.

A worker sends a minute's deliveries at once. This posts N of them concurrently to the
benchmark's agent (`fire_latency.py`'s, in a process of its own) in three bursts: on new
connections, 1 s later on the idle connections left by the first, and 6 s later when those
have expired (the agent and httpx both drop an idle connection after 5 s). Each burst runs
through:
- baseline: one `httpx.AsyncClient` for N connections keeping up to 100 idle (the worker's
  client before `agent_clients`);
- pools: `runner.agents.pools.agent_clients(N)`, taken in turn.
For each burst: its duration, the slowest request, failures within a 10 s timeout, and the
event loop's longest stall. Prints JSON, the ratio pools / baseline of the bursts' total last.

    .venv/bin/python bench/agent_pools.py [--deliveries 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
from fire_latency import AgentProcess

from runner.agents.pools import agent_clients

PAUSES = (1.0, 6.0)  # before the second and the third burst
TIMEOUT = 10.0

# Clients for N deliveries in flight: the baseline's one, or `agent_clients`.
_Pools = Callable[[int], AbstractAsyncContextManager[tuple[httpx.AsyncClient, ...]]]


@asynccontextmanager
async def _baseline(in_flight: int) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits) as client:
        yield (client,)


async def _stalls(into: list[float], stop: asyncio.Event) -> None:
    """How late the event loop wakes a 50 ms sleep: the time it spent on something else."""
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(0.05)
        into.append(time.monotonic() - started - 0.05)


async def _burst(clients: Sequence[httpx.AsyncClient], url: str, count: int) -> dict[str, Any]:
    durations: list[float] = []
    failures: list[str] = []
    turn = cycle(clients)

    async def _post(i: int, client: httpx.AsyncClient) -> None:
        started = time.monotonic()
        body = {"trigger": {"project_id": "p", "trigger_id": f"t{i}"}, "scheduled_for": "x"}
        try:
            async with asyncio.timeout(TIMEOUT):
                response = await client.post(url, json=body)
                response.raise_for_status()
        except (TimeoutError, httpx.HTTPError) as exc:
            failures.append(type(exc).__name__)
        durations.append(time.monotonic() - started)

    stalls: list[float] = []
    stop = asyncio.Event()
    watcher = asyncio.create_task(_stalls(stalls, stop))
    started = time.monotonic()
    await asyncio.gather(*(_post(i, next(turn)) for i in range(count)))
    total = time.monotonic() - started
    stop.set()
    await watcher
    return {
        "seconds": round(total, 3),
        "request_p50_s": round(statistics.median(durations), 3),
        "request_max_s": round(max(durations), 3),
        "failures": len(failures),
        "loop_stall_max_s": round(max(stalls, default=0.0), 3),
    }


async def _measure(pools: _Pools, url: str, count: int) -> dict[str, Any]:
    async with pools(count) as clients:
        bursts = [await _burst(clients, url, count)]
        for pause in PAUSES:
            await asyncio.sleep(pause)
            bursts.append(await _burst(clients, url, count))
    return {"clients": len(clients), "bursts": bursts}


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    agent = AgentProcess(tmp / "arrivals.json")
    try:
        baseline = await _measure(_baseline, agent.url, args.deliveries)
        pools = await _measure(agent_clients, agent.url, args.deliveries)
    finally:
        agent.stop()
    total_baseline = sum(burst["seconds"] for burst in baseline["bursts"])
    total_pools = sum(burst["seconds"] for burst in pools["bursts"])
    return {
        "deliveries": args.deliveries,
        "bursts": ["new connections", f"idle {PAUSES[0]:g} s", f"idle {PAUSES[1]:g} s"],
        "baseline_one_pool": baseline,
        "agent_clients": pools,
        "baseline_seconds": round(total_baseline, 3),
        "agent_clients_seconds": round(total_pools, 3),
        "ratio_agent_clients_to_baseline": round(total_pools / total_baseline, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000, help="deliveries per burst (N)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tkp", dir="/tmp") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(result, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
