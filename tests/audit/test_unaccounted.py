"""`instants_unaccounted`: occurrences the scheduler moved past with neither a run nor a
`missed` record are reported, and `--fix` records each one as `missed` (with its alert)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.run import run_audit
from manage_db.store import ManageStore
from runtime_db.alerts import put_hook
from runtime_db.invocations import finish
from runtime_db.models import AlertDelivery, Invocation, TriggerSchedule
from tests.audit.conftest import (
    NOW,
    add_triggers,
    audit_context,
    by_check,
    open_invocation,
    trigger_row,
)

SUBJECT = {"tenant_id": "acme", "project_id": "web", "trigger_id": "five"}


def _at(minute: int) -> datetime:
    return datetime(2030, 1, 7, 9, minute, tzinfo=UTC)


def _scheduled(session_factory: sessionmaker[Session]) -> list[tuple[str, str, str | None]]:
    with session_factory() as session:
        rows = session.scalars(
            select(Invocation)
            .where(Invocation.kind == "scheduled")
            .order_by(Invocation.scheduled_for)
        )
        return [(r.scheduled_for.strftime("%H:%M"), r.status, r.status_reason) for r in rows]


async def test_passed_instants_without_a_record_are_reported_then_recorded_missed(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    # Saved at 09:00, every 5 minutes; the scheduler has moved on to 09:30.
    five = trigger_row(
        "five",
        cron_expression="*/5 * * * *",
        updated_at="2030-01-07T09:00:00Z",
        next_run_at="2030-01-07T09:30:00Z",
    )
    add_triggers(manage_store, session_factory, "acme", "web", five, trigger_row("daily"))
    done = open_invocation(session_factory, "acme", "web", "five", scheduled_for=_at(5))
    missed = open_invocation(session_factory, "acme", "web", "five", scheduled_for=_at(15))
    open_invocation(session_factory, "acme", "web", "five", scheduled_for=_at(20), kind="manual")
    with session_factory.begin() as session:
        finish(session, done, status="completed", reason=None, now=_at(6))
        finish(session, missed, status="missed", reason="missed: coalesced", now=_at(20))
        put_hook(
            session, "acme", "web", "pager", url="http://127.0.0.1:9/",
            events=["invocation.missed"], secret_env=None, now=NOW,
        )  # fmt: skip
    ctx = audit_context(manage_store, session_factory)

    report = (await run_audit(ctx, fix=False)).to_document()

    assert by_check(report, "instants_unaccounted") == [
        {
            "check": "instants_unaccounted",
            "subject": SUBJECT,
            "message": "3 instant(s) passed without a run or a missed record:"
            " 2030-01-07T09:10:00Z .. 2030-01-07T09:25:00Z",
            "fixable": True,
            "fixed": False,
        }
    ]

    fixed = (await run_audit(ctx, fix=True)).to_document()

    assert [f["fixed"] for f in by_check(fixed, "instants_unaccounted")] == [True]
    assert [r for r in fixed["repairs"] if r["check"] == "instants_unaccounted"] == [
        {
            "check": "instants_unaccounted",
            "subject": SUBJECT,
            "action": "recorded 3 instant(s) as missed",
        }
    ]
    found = "missed: the scheduler passed it without a run or a record (found by the audit)"
    assert _scheduled(session_factory) == [
        ("09:05", "completed", None),
        ("09:10", "missed", found),
        ("09:15", "missed", "missed: coalesced"),
        ("09:20", "missed", found),
        ("09:25", "missed", found),
    ]
    with session_factory() as session:
        alerted = session.scalars(select(AlertDelivery.payload)).all()
    assert sorted(p["scheduled_for"] for p in alerted) == [
        "2030-01-07T09:10:00Z",
        "2030-01-07T09:20:00Z",
        "2030-01-07T09:25:00Z",
    ]
    again = (await run_audit(ctx, fix=False)).to_document()
    assert by_check(again, "instants_unaccounted") == []


async def test_a_completed_trigger_is_not_reported_as_never_firing(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    limited = trigger_row("limited", cron_expression="*/5 * * * *", max_runs=2)
    add_triggers(manage_store, session_factory, "acme", "web", limited)
    with session_factory.begin() as session:
        row = session.scalars(select(TriggerSchedule)).one()
        row.next_run_at, row.run_count = None, 2
        row.completed_reason = "max_runs (2) reached"
    ctx = audit_context(manage_store, session_factory)

    report = (await run_audit(ctx, fix=False)).to_document()

    assert by_check(report, "next_run_missing") == []
    assert by_check(report, "instants_unaccounted") == []


async def test_a_missing_next_run_is_recomputed_inside_the_triggers_window(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    later = trigger_row(
        "later",
        cron_expression="0 * * * *",
        start_at="2030-01-09T00:00:00Z",
        next_run_at="2030-01-09T00:00:00Z",
    )
    add_triggers(manage_store, session_factory, "acme", "web", later)
    with session_factory.begin() as session:
        session.scalars(select(TriggerSchedule)).one().next_run_at = None
    ctx = audit_context(manage_store, session_factory)

    fixed = (await run_audit(ctx, fix=True)).to_document()

    assert [r["action"] for r in fixed["repairs"] if r["check"] == "next_run_missing"] == [
        "next_run_at set to 2030-01-09T00:00:00Z"
    ]
