"""Invocation checks: open runs whose trigger or project is gone or disabled (cancelled), and
runs open past what their timeout and retries allow (marked failed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from audit.checks import check_invocation_stale
from audit.repairs import repair_invocations
from audit.run import run_audit
from audit.scan import read_manage, read_runtime
from manage_db.branches import project_branch
from manage_db.schema import MIGRATIONS
from manage_db.store import ManageStore, delete_branch
from manage_db.triggers import delete_trigger
from runtime_db.invocations import finish
from tests.audit.conftest import (
    NOW,
    TICK,
    add_triggers,
    audit_context,
    by_check,
    clear_deadline,
    invocation_state,
    open_invocation,
    trigger_row,
    user_disable,
)


async def test_orphaned_invocations_are_cancelled_with_the_reason(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    add_triggers(
        manage_store,
        session_factory,
        "acme",
        "web",
        trigger_row("daily"),
        trigger_row("gone"),
        trigger_row("once", cron_expression=None, run_at="2030-01-07T09:59:00Z"),
    )
    add_triggers(manage_store, session_factory, "beta", "old", trigger_row("nightly"))
    recent = NOW - timedelta(minutes=1)
    disabled = open_invocation(
        session_factory, "acme", "web", "daily", scheduled_for=recent, created_at=recent
    )
    manual = open_invocation(
        session_factory, "acme", "web", "daily", scheduled_for=recent, kind="manual",
        created_at=recent,
    )  # fmt: skip
    deleted = open_invocation(
        session_factory, "acme", "web", "gone", scheduled_for=recent, started_at=recent
    )
    one_time = open_invocation(
        session_factory, "acme", "web", "once", scheduled_for=recent, started_at=recent
    )
    project_gone = open_invocation(
        session_factory, "beta", "old", "nightly", scheduled_for=recent, created_at=recent
    )
    # A user disables `daily` and the API dies before cancelling its pending run; `gone` and a
    # whole project are deleted the same way. The one-time trigger's run is legitimate: its
    # dispatch moved its schedule state, not its definition.
    user_disable(manage_store, "acme", "web", "daily")
    with manage_store.write(project_branch("acme", "web"), author="bob", message="rm") as unit:
        assert delete_trigger(unit.conn, "gone")
    with manage_store.read() as conn:
        delete_branch(conn, project_branch("beta", "old"))
    ctx = audit_context(manage_store, session_factory)

    report = await run_audit(ctx, fix=False)

    def subject(
        trigger: str, invocation: object, status: str, tenant: str = "acme"
    ) -> dict[str, str]:
        project = "web" if tenant == "acme" else "old"
        return {
            "tenant_id": tenant,
            "project_id": project,
            "trigger_id": trigger,
            "invocation_id": str(invocation),
            "status": status,
        }

    assert by_check(report.to_document(), "invocation_orphaned") == [
        {
            "check": "invocation_orphaned",
            "subject": subject("daily", disabled, "pending"),
            "message": "pending invocation, but its trigger was disabled after it was scheduled",
            "fixable": True,
            "fixed": False,
        },
        {
            "check": "invocation_orphaned",
            "subject": subject("gone", deleted, "running"),
            "message": "running invocation, but its trigger no longer exists",
            "fixable": True,
            "fixed": False,
        },
        {
            "check": "invocation_orphaned",
            "subject": subject("nightly", project_gone, "pending", tenant="beta"),
            "message": "pending invocation, but its project branch no longer exists",
            "fixable": True,
            "fixed": False,
        },
    ]
    assert by_check(report.to_document(), "invocation_stale") == []
    assert invocation_state(session_factory, disabled) == ("pending", None, False, None)

    fixed = (await run_audit(ctx, fix=True)).to_document()

    assert [r["action"] for r in fixed["repairs"] if r["check"] == "invocation_orphaned"] == [
        "cancelled: audit: trigger disabled",
        "cancelled: audit: trigger deleted",
        "cancelled: audit: project deleted",
    ]
    assert all(f["fixed"] for f in by_check(fixed, "invocation_orphaned"))
    assert invocation_state(session_factory, disabled) == (
        "cancelled",
        "audit: trigger disabled",
        True,
        NOW,
    )
    assert invocation_state(session_factory, deleted) == (
        "cancelled",
        "audit: trigger deleted",
        True,
        NOW,
    )
    assert invocation_state(session_factory, project_gone) == (
        "cancelled",
        "audit: project deleted",
        True,
        NOW,
    )
    assert invocation_state(session_factory, manual) == ("pending", None, False, None)
    assert invocation_state(session_factory, one_time) == ("running", None, False, None)
    assert by_check((await run_audit(ctx, fix=False)).to_document(), "invocation_orphaned") == []


async def test_stale_invocations_are_marked_failed(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    # max_retries 2, retry_delay 10 s, timeout 30 s: the runner's worst case is
    # 3 x (30 + 30 margin) + 2 x 900 (Retry-After bound) = 1,980 s; two ticks more is 2,100 s.
    add_triggers(manage_store, session_factory, "acme", "web", trigger_row("daily"))
    started = NOW - timedelta(hours=2)

    def run(minute: int, **kwargs: Any) -> object:
        scheduled = NOW - timedelta(hours=3, minutes=minute)
        return open_invocation(
            session_factory, "acme", "web", "daily", scheduled_for=scheduled, **kwargs
        )

    past_deadline = run(1, started_at=started, deadline_at=NOW - timedelta(seconds=121))
    within_grace = run(2, started_at=started, deadline_at=NOW - timedelta(seconds=120))
    no_deadline = run(3, started_at=NOW - timedelta(seconds=2101))
    clear_deadline(session_factory, no_deadline)  # type: ignore[arg-type]
    no_deadline_ok = run(4, started_at=NOW - timedelta(seconds=2100))
    clear_deadline(session_factory, no_deadline_ok)  # type: ignore[arg-type]
    pending_stale = run(5, created_at=NOW - timedelta(seconds=2101))
    pending_ok = run(6, created_at=NOW - timedelta(seconds=2100))
    ctx = audit_context(manage_store, session_factory)

    report = (await run_audit(ctx, fix=False)).to_document()

    stale = by_check(report, "invocation_stale")
    assert [(f["subject"]["invocation_id"], f["subject"]["status"]) for f in stale] == sorted(
        [
            (str(past_deadline), "running"),
            (str(no_deadline), "running"),
            (str(pending_stale), "pending"),
        ]
    )
    messages = {f["subject"]["invocation_id"]: f["message"] for f in stale}
    assert messages[str(past_deadline)] == (
        "running past what its timeout and retries allow"
        " (started 2030-01-07T08:00:00Z, stale after 2030-01-07T09:59:59Z)"
    )
    assert messages[str(no_deadline)] == (
        "running past what its timeout and retries allow"
        " (started 2030-01-07T09:24:59Z, stale after 2030-01-07T09:59:59Z)"
    )
    assert messages[str(pending_stale)] == (
        "pending past what its timeout and retries allow"
        " (created 2030-01-07T09:24:59Z, stale after 2030-01-07T09:59:59Z)"
    )

    fixed = (await run_audit(ctx, fix=True)).to_document()

    assert [r["action"] for r in fixed["repairs"]] == [
        "failed: audit: exceeded timeout and retries"
    ] * 3
    for stale_id in (past_deadline, no_deadline, pending_stale):
        assert invocation_state(session_factory, stale_id) == (  # type: ignore[arg-type]
            "failed",
            "audit: exceeded timeout and retries",
            False,
            NOW,
        )
    for ok_id, status in ((within_grace, "running"), (no_deadline_ok, "running")):
        assert invocation_state(session_factory, ok_id)[0] == status  # type: ignore[arg-type]
    assert invocation_state(session_factory, pending_ok)[0] == "pending"  # type: ignore[arg-type]
    assert fixed["healthy"] is False  # Temporal was not configured (temporal_unavailable)
    assert fixed["counts"]["invocation_stale"] == 3


async def test_a_run_that_ends_meanwhile_keeps_its_own_end(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    add_triggers(manage_store, session_factory, "acme", "web", trigger_row("daily"))
    slow = open_invocation(
        session_factory,
        "acme",
        "web",
        "daily",
        scheduled_for=NOW - timedelta(days=1),
        started_at=NOW - timedelta(days=1),
    )
    with session_factory() as session:
        runtime = read_runtime(session)
    manage = read_manage(manage_store, MIGRATIONS)
    findings = check_invocation_stale(manage, runtime, NOW, TICK, exclude=set())
    with session_factory.begin() as session:
        finish(session, slow, status="completed", reason=None, now=NOW)

    repairs = await repair_invocations(session_factory, None, manage, runtime, findings, NOW)

    assert (repairs, [f.fixed for f in findings]) == ([], [False])
    assert invocation_state(session_factory, slow) == ("completed", None, False, NOW)
