"""Re-syncing a project branch's definitions into schedule state: what moves and what stays."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.schedule_sync import moved_branches, schedule_key, sync_branch
from dispatcher.workflows import until_next_tick
from manage_db.store import ManageStore, delete_branch
from manage_db.triggers import delete_trigger, replace_trigger
from runtime_db.models import TriggerSchedule
from runtime_db.schedules import synced_heads
from tests.dispatcher.conftest import add_triggers, schedule_of, trigger

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _sync(store: ManageStore, sessions: sessionmaker[Session], branch: str) -> None:
    with sessions.begin() as session:
        sync_branch(store, session, branch, NOW)


def _advance_to(sessions: sessionmaker[Session], trigger_id: str, next_run_at: str) -> None:
    """Move a row as a tick would, so a test can see whether a sync keeps the position."""
    at = datetime.fromisoformat(next_run_at)
    with sessions.begin() as session:
        session.execute(
            update(TriggerSchedule)
            .where(TriggerSchedule.trigger_id == trigger_id)
            .values(next_run_at=at, last_scheduled_for=at - timedelta(minutes=5), run_count=7)
        )


def test_new_moved_and_deleted_branches_are_told_apart_and_main_is_ignored() -> None:
    heads = {"main": "m", "a/p/main": "1", "a/q/main": "2", "a/r/main": "3", "x": "4"}
    synced = {"a/p/main": "1", "a/q/main": "old", "a/gone/main": "9"}
    assert moved_branches(heads, synced) == (["a/q/main", "a/r/main"], ["a/gone/main"])


def test_the_schedule_key_changes_with_the_schedule_and_not_with_the_message() -> None:
    base = trigger("t", next_run_at="2026-03-02T10:00:00Z")
    assert schedule_key(replace(base, message_template="other", version=2)) == schedule_key(base)
    for changed in (
        replace(base, cron_expression="0 * * * *"),
        replace(base, cron_timezone="Europe/Paris"),
        replace(base, enabled=False),
        replace(base, created_at="2026-02-01T00:00:00Z"),
    ):
        assert schedule_key(changed) != schedule_key(base)


def test_a_sync_takes_new_triggers_at_their_saved_next_run_and_records_the_head(
    manage_store: ManageStore, session_factory: sessionmaker[Session], branch: str
) -> None:
    head = add_triggers(
        manage_store,
        branch,
        trigger("a", next_run_at="2026-03-02T10:00:00Z"),
        trigger("off", next_run_at=None, enabled=False),
    )
    _sync(manage_store, session_factory, branch)
    assert schedule_of(session_factory, branch, "a") == ("2026-03-02T10:00:00Z", None, 0)
    assert schedule_of(session_factory, branch, "off") == (None, None, 0)
    with session_factory() as session:
        assert synced_heads(session) == {branch: head}


def test_an_edit_that_keeps_the_schedule_keeps_the_position_a_reschedule_takes_the_new_one(
    manage_store: ManageStore, session_factory: sessionmaker[Session], branch: str
) -> None:
    original = trigger("a", next_run_at="2026-03-02T10:00:00Z")
    add_triggers(manage_store, branch, original, trigger("b", next_run_at="2026-03-02T10:00:00Z"))
    _sync(manage_store, session_factory, branch)
    _advance_to(session_factory, "a", "2026-03-02T10:35:00+00:00")
    _advance_to(session_factory, "b", "2026-03-02T10:35:00+00:00")
    with manage_store.write(branch, author="alice", message="edit") as unit:
        message_only = replace(original, message_template="new text", version=2)
        assert replace_trigger(unit.conn, message_only, expected_version=1)
        hourly = replace(
            trigger("b", next_run_at="2026-03-02T10:00:00Z"),
            cron_expression="0 * * * *",
            next_run_at="2026-03-02T11:00:00Z",
            version=2,
        )
        assert replace_trigger(unit.conn, hourly, expected_version=1)
    _sync(manage_store, session_factory, branch)
    assert schedule_of(session_factory, branch, "a") == (
        "2026-03-02T10:35:00Z",
        "2026-03-02T10:30:00Z",
        7,
    )
    assert schedule_of(session_factory, branch, "b") == (
        "2026-03-02T11:00:00Z",
        "2026-03-02T10:30:00Z",
        7,
    )


def test_deleted_triggers_and_deleted_branches_leave_schedule_state(
    manage_store: ManageStore, session_factory: sessionmaker[Session], branch: str
) -> None:
    add_triggers(
        manage_store,
        branch,
        trigger("a", next_run_at="2026-03-02T10:00:00Z"),
        trigger("b", next_run_at="2026-03-02T10:00:00Z"),
    )
    _sync(manage_store, session_factory, branch)
    with manage_store.write(branch, author="alice", message="delete b") as unit:
        assert delete_trigger(unit.conn, "b")
    _sync(manage_store, session_factory, branch)
    with session_factory() as session:
        assert [r.trigger_id for r in session.query(TriggerSchedule)] == ["a"]
    with manage_store.read() as conn:
        delete_branch(conn, branch)
    _sync(manage_store, session_factory, branch)
    with session_factory() as session:
        assert session.query(TriggerSchedule).count() == 0
        assert synced_heads(session) == {}


def test_ticks_fall_on_multiples_of_the_tick_since_the_epoch() -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert until_next_tick(at, 60) == timedelta(seconds=60)
    assert until_next_tick(at + timedelta(milliseconds=500), 60) == timedelta(seconds=59.5)
    assert until_next_tick(at + timedelta(seconds=59), 60) == timedelta(seconds=1)
    assert until_next_tick(at + timedelta(minutes=2), 300) == timedelta(minutes=3)
