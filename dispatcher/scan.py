"""Finding due triggers across project branches: the branch-head cache and fair selection.

An idle tick must cost one query however many projects exist. The cache remembers, per branch,
the head commit it last read and the earliest enabled `next_run_at` at that commit; a branch is
read again only when its head moved or that earliest instant has come. Keyed by commit hash, an
entry cannot go stale: any write to the branch moves its head.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from manage_db.branches import ProjectRef, parse_branch
from manage_db.store import branch_heads
from manage_db.triggers import TriggerRow, due_triggers_at, earliest_next_run_at

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedBranch:
    head: str
    earliest: str | None  # earliest enabled next_run_at at `head`; None when nothing is scheduled


class BranchCache:
    """Per-branch (head, earliest next_run_at) kept across ticks in the activity's memory."""

    def __init__(self) -> None:
        self._entries: dict[str, CachedBranch] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, branch: str) -> CachedBranch | None:
        return self._entries.get(branch)

    def to_scan(self, heads: dict[str, str], as_of: str) -> list[str]:
        """Project branches that may hold due triggers, in name order; forgets deleted ones.

        A cached branch whose head stands still and whose earliest instant is to come costs a
        dictionary lookup; only branches not seen before have their names parsed.
        """
        for gone in self._entries.keys() - heads.keys():
            del self._entries[gone]
        branches = []
        for branch, head in heads.items():
            entry = self._entries.get(branch)
            if entry is None:
                if parse_branch(branch) is not None:
                    branches.append(branch)
            elif entry.head != head or (entry.earliest is not None and entry.earliest <= as_of):
                branches.append(branch)
        return sorted(branches)

    def remember(self, branch: str, head: str, earliest: str | None) -> None:
        self._entries[branch] = CachedBranch(head, earliest)

    def forget(self, branch: str) -> None:
        self._entries.pop(branch, None)


@dataclass(frozen=True)
class BranchScan:
    """Due triggers of one branch as they stand at `head`: the oldest (at most the per-branch
    bound) and how many are due in all."""

    branch: str
    project: ProjectRef
    head: str
    earliest: str | None
    due: list[TriggerRow]
    due_count: int


def scan_branch(
    conn: sqlite3.Connection, branch: str, head: str, as_of: str, bound: int
) -> BranchScan:
    """Read at the head commit, not the branch name, so the result matches the cache key.

    One query when nothing is due (the earliest instant), two when something is, three when
    more than `bound` are (to count what is left for later ticks).
    """
    project = parse_branch(branch)
    if project is None:
        raise ValueError(f"not a project branch: {branch}")
    earliest = earliest_next_run_at(conn, head)
    due: list[TriggerRow] = []
    if earliest is not None and earliest <= as_of:
        due = due_triggers_at(conn, head, as_of, bound + 1)
    count = len(due)
    if count > bound:
        due = due[:bound]
        count = _count_due(conn, head, as_of)
    return BranchScan(branch, project, head, earliest, due, count)


@dataclass(frozen=True)
class ScanResult:
    branches_listed: int
    scans: list[BranchScan]  # one per branch read


def scan_due(conn: sqlite3.Connection, cache: BranchCache, as_of: str, bound: int) -> ScanResult:
    """Steps 1 and 2 of a tick: one query for every head, then only the branches that may be
    due, each remembered in `cache` at the head it was read at."""
    heads = branch_heads(conn)
    scans: list[BranchScan] = []
    for branch in cache.to_scan(heads, as_of):
        head = heads[branch]
        try:
            scan = scan_branch(conn, branch, head, as_of, bound)
        except sqlite3.OperationalError as exc:
            # A branch the schema migration has not reached yet: skip it, retry next tick.
            log.warning("cannot scan branch %s at %s: %s", branch, head, exc)
            cache.forget(branch)
            continue
        cache.remember(branch, head, scan.earliest)
        scans.append(scan)
    return ScanResult(len(heads), scans)


def _count_due(conn: sqlite3.Connection, revision: str, as_of: str) -> int:
    row = conn.execute(
        "select count(*) from dolt_at_triggers(?) where enabled = 1 and next_run_at is not null"
        " and next_run_at <= ?",
        (revision, as_of),
    ).fetchone()
    return int(row[0])


@dataclass(frozen=True)
class Selected:
    scan: BranchScan
    trigger: TriggerRow


def select_fair(scans: list[BranchScan], max_per_tick: int) -> tuple[list[Selected], int]:
    """Round-robin across branches ordered by their earliest due instant, within the bound.

    A branch with thousands of due triggers takes one per round like every other (and never
    more than its scan's per-branch bound), so it cannot starve the rest; what is left stays
    due for the next tick. Returns the selection and how many due triggers were left.
    """
    ordered = sorted(
        (s for s in scans if s.due), key=lambda s: (s.due[0].next_run_at or "", s.branch)
    )
    selected: list[Selected] = []
    depth = 0
    while len(selected) < max_per_tick and any(depth < len(s.due) for s in ordered):
        for scan in ordered:
            if depth < len(scan.due) and len(selected) < max_per_tick:
                selected.append(Selected(scan, scan.due[depth]))
        depth += 1
    return selected, sum(s.due_count for s in ordered) - len(selected)
