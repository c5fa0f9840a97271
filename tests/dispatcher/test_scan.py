"""Which branches a tick reads, which due triggers it takes, and when it ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatcher.scan import BranchCache, BranchScan, select_fair
from dispatcher.workflows import until_next_tick
from manage_db.branches import parse_branch
from tests.dispatcher.conftest import trigger

AS_OF = "2026-03-02T10:00:00Z"


def test_a_branch_is_read_when_new_moved_or_due_and_never_otherwise() -> None:
    cache = BranchCache()
    cache.remember("t/idle/main", "h1", "2026-03-02T11:00:00Z")
    cache.remember("t/moved/main", "h2", "2026-03-02T11:00:00Z")
    cache.remember("t/due/main", "h3", AS_OF)
    cache.remember("t/empty/main", "h4", None)
    cache.remember("t/deleted/main", "h5", AS_OF)
    heads = {
        "main": "h0",
        "feature/x": "hx",
        "t/idle/main": "h1",
        "t/moved/main": "h2b",
        "t/due/main": "h3",
        "t/empty/main": "h4",
        "t/new/main": "h6",
    }

    assert cache.to_scan(heads, AS_OF) == ["t/due/main", "t/moved/main", "t/new/main"]
    assert cache.get("t/deleted/main") is None
    assert len(cache) == 4


def _scan(branch: str, *next_runs: str, due_count: int | None = None) -> BranchScan:
    project = parse_branch(branch)
    assert project is not None
    due = [trigger(f"{project.project_id}{i}", next_run_at=at) for i, at in enumerate(next_runs)]
    count = len(due) if due_count is None else due_count
    return BranchScan(branch, project, "head", next_runs[0] if next_runs else None, due, count)


def test_due_triggers_are_taken_round_robin_by_earliest_due_branch_within_the_tick_bound() -> None:
    big = _scan("t/big/main", *(f"2026-03-02T09:5{i}:00Z" for i in range(3)), due_count=7)
    small = _scan("t/small/main", "2026-03-02T09:45:00Z", "2026-03-02T09:46:00Z")
    single = _scan("t/single/main", AS_OF)
    idle = _scan("t/idle/main")

    selected, deferred = select_fair([big, small, single, idle], max_per_tick=5)

    assert [s.trigger.id for s in selected] == ["small0", "big0", "single0", "small1", "big1"]
    assert deferred == 10 - 5


def test_the_selection_takes_everything_when_the_bound_allows() -> None:
    a = _scan("t/a/main", AS_OF, AS_OF)
    b = _scan("t/b/main", "2026-03-02T09:00:00Z")

    selected, deferred = select_fair([a, b], max_per_tick=100)

    assert [(s.scan.branch, s.trigger.id) for s in selected] == [
        ("t/b/main", "b0"),
        ("t/a/main", "a0"),
        ("t/a/main", "a1"),
    ]
    assert deferred == 0


def test_ticks_fall_on_multiples_of_the_tick_since_the_epoch() -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert until_next_tick(at, 60) == timedelta(seconds=60)
    assert until_next_tick(at + timedelta(milliseconds=500), 60) == timedelta(seconds=59.5)
    assert until_next_tick(at + timedelta(seconds=59), 60) == timedelta(seconds=1)
    assert until_next_tick(at + timedelta(minutes=2), 300) == timedelta(minutes=3)
