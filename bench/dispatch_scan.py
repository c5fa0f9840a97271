"""Idle-tick scan cost: the dispatcher's branch-head cache against reading every branch.

Builds N project branches x M triggers (none due) in a fresh doltlite store, then measures in
one run: the naive scan (read every project branch for due triggers, as a dispatcher without a
cache must each tick) and the cached idle tick (`dispatcher.scan.scan_due` with a warm cache:
one query for the branch heads, no branch read). Prints JSON, the ratio last.

    .venv/bin/python bench/dispatch_scan.py [--branches 10000] [--triggers 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from seeding import bench_trigger  # imports manage_db first, which bootstraps doltlite

from dispatcher.scan import BranchCache, scan_due
from manage_db.branches import parse_branch, project_branch
from manage_db.migrate import migrate_store
from manage_db.store import ManageStore, branch_heads
from manage_db.triggers import TriggerRow, due_triggers_at, insert_trigger

AS_OF = "2026-03-02T10:00:00Z"
BOUND = 100  # the default per-branch bound


def _trigger(index: int) -> TriggerRow:
    # every next_run_at is after AS_OF: an idle store
    return bench_trigger(
        index,
        cron_expression="0 * * * *",
        next_run_at=f"2026-03-02T{11 + index % 12:02}:00:00Z",
    )


def build(store: ManageStore, branches: int, triggers: int) -> float:
    """One connection: branch from main, insert, commit; ~3.5 ms a branch."""
    started = time.perf_counter()
    rows = [_trigger(i) for i in range(triggers)]
    conn = store.connect()
    try:
        for b in range(branches):
            conn.execute("select dolt_checkout('-b', ?, 'main')", (project_branch("t", f"p{b}"),))
            conn.execute("begin")
            for row in rows:
                insert_trigger(conn, row)
            conn.execute("select dolt_commit('-A', '-m', 'bench triggers')")
            if conn.in_transaction:
                conn.execute("commit")
    finally:
        conn.close()
    return time.perf_counter() - started


def naive_scan(store: ManageStore) -> int:
    """What a dispatcher without the cache does each tick: read every project branch."""
    found = 0
    with store.read() as conn:
        for branch in branch_heads(conn):
            if parse_branch(branch) is not None:
                found += len(due_triggers_at(conn, branch, AS_OF, BOUND + 1))
    return found


def cached_scan(store: ManageStore, cache: BranchCache) -> int:
    with store.read() as conn:
        return len(scan_due(conn, cache, AS_OF, BOUND).scans)


def _timed_ms(fn: object, repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=10_000, help="project branches (N)")
    parser.add_argument("--triggers", type=int, default=10, help="triggers per branch (M)")
    parser.add_argument("--naive-repeat", type=int, default=3)
    parser.add_argument("--cached-repeat", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tkbench") as tmp:
        store = ManageStore(Path(tmp) / "manage.db")
        migrate_store(store)
        build_seconds = build(store, args.branches, args.triggers)
        cache = BranchCache()
        cold_ms, cold_scanned = _timed_ms(lambda: cached_scan(store, cache), 1)
        naive_ms, naive_due = _timed_ms(lambda: naive_scan(store), args.naive_repeat)
        cached_ms, idle_scanned = _timed_ms(lambda: cached_scan(store, cache), args.cached_repeat)
        assert naive_due == 0 and idle_scanned == 0 and cold_scanned == args.branches
        print(
            json.dumps(
                {
                    "branches": args.branches,
                    "triggers_per_branch": args.triggers,
                    "build_seconds": round(build_seconds, 1),
                    "cold_cache_scan_ms": round(cold_ms, 1),
                    "branches_scanned_idle": idle_scanned,
                    "naive_scan_ms": round(naive_ms, 1),
                    "cached_idle_scan_ms": round(cached_ms, 2),
                    "ratio": round(naive_ms / cached_ms, 1),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
