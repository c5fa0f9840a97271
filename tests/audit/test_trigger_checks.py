"""Trigger checks: schedule state against the branches (behind, missing, stale, orphaned rows,
each re-synced), a missing `next_run_at` (found and recomputed), overdue triggers, schedules that
no longer parse, and branches behind the manage schema."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from audit.findings import (
    NEXT_RUN_MISSING,
    SCHEDULE_BEHIND,
    SCHEDULE_MISSING,
    SCHEDULE_ORPHANED,
    SCHEDULE_STALE,
    Finding,
)
from audit.run import run_audit
from audit.scan import read_manage
from audit.schedule_repairs import repair_schedules
from manage_db.migrate import apply_pending, migrate_store
from manage_db.schema import MIGRATIONS, Migration
from manage_db.store import ManageStore, branch_heads
from manage_db.timestamps import to_db
from runtime_db.models import TriggerSchedule
from runtime_db.schedules import all_schedules
from tests.audit.conftest import (
    NOW,
    add_triggers,
    audit_context,
    by_check,
    sync,
    trigger_row,
    user_disable,
)

# The classic bug: a migration that rebuilt `next_run_at` with no backfill.
REBUILD_WITHOUT_BACKFILL = Migration(
    MIGRATIONS[-1].version + 1,
    "rebuild next_run_at (no backfill)",
    (
        "drop index triggers_due",
        "alter table triggers drop column next_run_at",
        "alter table triggers add column next_run_at text",
        "create index triggers_due on triggers (enabled, next_run_at)",
    ),
)
WITH_REBUILD = (*MIGRATIONS, REBUILD_WITHOUT_BACKFILL)


def _next_runs(sessions: sessionmaker[Session]) -> dict[str, str | None]:
    with sessions() as session:
        return {
            r.trigger_id: to_db(r.next_run_at) if r.next_run_at else None
            for r in all_schedules(session)
        }


async def test_next_run_missing_after_a_migration_without_backfill_is_recomputed(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    web = add_triggers(
        manage_store,
        None,
        "acme",
        "web",
        trigger_row("daily"),
        trigger_row("once", cron_expression=None, run_at="2030-02-01T12:00:00Z"),
        trigger_row("paused", enabled=False),
    )
    api = add_triggers(
        manage_store, None, "acme", "api", trigger_row("hourly", cron_expression="0 * * * *")
    )
    migrate_store(manage_store, WITH_REBUILD)
    sync(manage_store, session_factory, web)
    sync(manage_store, session_factory, api)
    ctx = audit_context(manage_store, session_factory, migrations=WITH_REBUILD)
    with manage_store.read() as conn:
        heads_before = branch_heads(conn)

    report = await run_audit(ctx, fix=False)

    assert _next_runs(session_factory) == {
        "hourly": None,
        "daily": None,
        "once": None,
        "paused": None,
    }
    message = "enabled trigger has no next_run_at: it will never fire"
    assert by_check(report.to_document(), NEXT_RUN_MISSING) == [
        {
            "check": NEXT_RUN_MISSING,
            "subject": {"tenant_id": "acme", "project_id": subject, "trigger_id": trigger_id},
            "message": message,
            "fixable": True,
            "fixed": False,
        }
        for subject, trigger_id in (("api", "hourly"), ("web", "daily"), ("web", "once"))
    ]

    fixed = await run_audit(ctx, fix=True)

    assert [
        (f["subject"]["trigger_id"], f["fixed"])
        for f in by_check(fixed.to_document(), NEXT_RUN_MISSING)
    ] == [("hourly", True), ("daily", True), ("once", True)]
    assert _next_runs(session_factory) == {
        "hourly": "2030-01-07T11:00:00Z",
        "daily": "2030-01-08T09:00:00Z",
        "once": "2030-02-01T12:00:00Z",
        "paused": None,
    }
    assert [r["action"] for r in fixed.to_document()["repairs"]] == [
        "next_run_at set to 2030-01-07T11:00:00Z",
        "next_run_at set to 2030-01-08T09:00:00Z",
        "next_run_at set to 2030-02-01T12:00:00Z",
    ]
    with manage_store.read() as conn:
        assert branch_heads(conn) == heads_before, "the audit never commits to the manage store"

    again = await run_audit(ctx, fix=True)

    assert [f["check"] for f in again.to_document()["findings"]] == ["temporal_unavailable"]


async def test_a_concurrent_user_edit_wins_over_the_recompute(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    branch = add_triggers(
        manage_store, session_factory, "acme", "web", trigger_row("daily", next_run_at=None)
    )
    snapshot = read_manage(manage_store, MIGRATIONS)
    finding = Finding(
        NEXT_RUN_MISSING,
        {"tenant_id": "acme", "project_id": "web", "trigger_id": "daily"},
        "enabled trigger has no next_run_at: it will never fire",
        fixable=True,
    )
    user_disable(manage_store, "acme", "web", "daily")
    sync(manage_store, session_factory, branch)

    repairs = repair_schedules(manage_store, session_factory, snapshot, [finding], NOW)

    assert (repairs, finding.fixed) == ([], False)
    assert _next_runs(session_factory) == {"daily": None}


async def test_a_commit_whose_sync_was_lost_is_reported_behind_and_synced_by_the_fix(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    branch = add_triggers(manage_store, session_factory, "acme", "web", trigger_row("daily"))
    add_triggers(
        manage_store, None, "acme", "web", trigger_row("hourly", cron_expression="0 * * * *")
    )
    with manage_store.read() as conn:
        head = branch_heads(conn)[branch]

    report = (await run_audit(audit_context(manage_store, session_factory), fix=True)).to_document()

    [behind] = by_check(report, SCHEDULE_BEHIND)
    assert behind["subject"] == {"tenant_id": "acme", "project_id": "web"}
    assert behind["fixed"] is True
    assert report["repairs"] == [
        {
            "check": SCHEDULE_BEHIND,
            "subject": {"tenant_id": "acme", "project_id": "web"},
            "action": f"synced acme/web/main at {head}: 1 added, 0 updated, 0 removed",
        }
    ]
    assert _next_runs(session_factory) == {
        "daily": "2030-01-08T09:00:00Z",
        "hourly": "2030-01-07T11:00:00Z",
    }


async def test_rows_that_disagree_with_a_synced_branch_are_found_and_resynced(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    add_triggers(
        manage_store,
        session_factory,
        "acme",
        "web",
        trigger_row("daily"),
        trigger_row("hourly", cron_expression="0 * * * *"),
    )
    with session_factory.begin() as session:
        session.execute(delete(TriggerSchedule).where(TriggerSchedule.trigger_id == "daily"))
        session.execute(
            update(TriggerSchedule)
            .where(TriggerSchedule.trigger_id == "hourly")
            .values(definition_version=7)
        )
        orphan = TriggerSchedule(
            tenant_id="acme",
            project_id="web",
            trigger_id="ghost",
            agent_id="bot",
            definition_version=1,
            schedule_key="k",
            enabled=True,
            cron_expression="* * * * *",
            cron_timezone="UTC",
            misfire_grace_seconds=60,
            next_run_at=NOW,
            run_count=0,
            updated_at=NOW,
        )
        session.add(orphan)

    report = (await run_audit(audit_context(manage_store, session_factory), fix=True)).to_document()

    assert [
        (f["check"], f["subject"]["trigger_id"], f["fixed"])
        for f in report["findings"]
        if f["check"].startswith("schedule_")
    ] == [
        (SCHEDULE_MISSING, "daily", True),
        (SCHEDULE_STALE, "hourly", True),
        (SCHEDULE_ORPHANED, "ghost", True),
    ]
    assert _next_runs(session_factory) == {
        "daily": "2030-01-08T09:00:00Z",
        "hourly": "2030-01-07T11:00:00Z",
    }
    again = await run_audit(audit_context(manage_store, session_factory), fix=False)
    assert [f for f in again.to_document()["findings"] if f["check"].startswith("schedule_")] == []


async def test_overdue_means_more_than_two_ticks_late(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    add_triggers(
        manage_store,
        session_factory,
        "acme",
        "web",
        trigger_row("late", next_run_at="2030-01-07T09:57:59Z"),
        trigger_row("on-the-edge", next_run_at="2030-01-07T09:58:00Z"),
        trigger_row("paused-late", enabled=False, next_run_at="2030-01-01T00:00:00Z"),
    )

    report = await run_audit(audit_context(manage_store, session_factory), fix=True)

    assert by_check(report.to_document(), "trigger_overdue") == [
        {
            "check": "trigger_overdue",
            "subject": {"tenant_id": "acme", "project_id": "web", "trigger_id": "late"},
            "message": "next_run_at 2030-01-07T09:57:59Z is 121 s in the past"
            " (more than 2 ticks of 60 s): is the scheduler dispatching?",
            "fixable": False,
            "fixed": False,
        }
    ]


async def test_schedules_that_no_longer_parse_are_reported_never_guessed(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    # No API path stores these; a tzdata or validation change makes stored ones invalid.
    branch = add_triggers(
        manage_store,
        session_factory,
        "acme",
        "web",
        trigger_row("gone-zone", cron_timezone="Mars/Olympus_Mons", next_run_at=None),
        trigger_row("bad-cron", cron_expression="61 * * * *", enabled=False, next_run_at=None),
        trigger_row("bad-run-at", cron_expression=None, run_at="next tuesday", next_run_at=None),
    )
    with manage_store.read() as conn:
        heads = branch_heads(conn)

    document = (
        await run_audit(audit_context(manage_store, session_factory), fix=True)
    ).to_document()

    invalid = [
        (f["subject"]["trigger_id"], f["subject"]["field"], f["fixed"])
        for f in by_check(document, "schedule_invalid")
    ]
    assert invalid == [
        ("bad-cron", "cron_expression", False),
        ("bad-run-at", "run_at", False),
        ("gone-zone", "cron_timezone", False),
    ]
    assert all(not f["fixable"] for f in by_check(document, "schedule_invalid"))
    assert by_check(document, "schedule_invalid")[1]["message"] == (
        "not a UTC timestamp: 'next tuesday' (enabled trigger)"
    )
    # An enabled trigger without next_run_at whose schedule does not parse cannot be recomputed.
    assert [
        (f["subject"]["trigger_id"], f["fixable"], f["fixed"])
        for f in by_check(document, NEXT_RUN_MISSING)
    ] == [
        ("bad-run-at", False, False),
        ("gone-zone", False, False),
    ]
    assert document["repairs"] == []
    with manage_store.read() as conn:
        assert branch_heads(conn)[branch] == heads[branch]


async def test_branches_behind_the_schema_are_reported(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    add_triggers(manage_store, session_factory, "acme", "web", trigger_row("daily"))
    add_triggers(manage_store, session_factory, "beta", "app", trigger_row("daily"))
    current = MIGRATIONS[-1].version
    newer = (
        *MIGRATIONS,
        Migration(current + 1, "add a column", ("alter table triggers add column x text",)),
    )
    # `main` moved on (new projects branch from it); the existing project branches did not.
    with manage_store.write("main", author="timekeeper-migrate", message="v2") as unit:
        apply_pending(unit.conn, newer)
    ctx = audit_context(manage_store, session_factory, migrations=newer)

    document = (await run_audit(ctx, fix=True)).to_document()

    message = f"schema version {current}, latest is {current + 1}: run `timekeeper migrate`"
    assert by_check(document, "schema_behind") == [
        {
            "check": "schema_behind",
            "subject": {"branch": "acme/web/main", "version": current},
            "message": message,
            "fixable": False,
            "fixed": False,
        },
        {
            "check": "schema_behind",
            "subject": {"branch": "beta/app/main", "version": current},
            "message": message,
            "fixable": False,
            "fixed": False,
        },
    ]
    assert document["counts"]["schema_behind"] == 2

    migrate_store(manage_store, newer)

    assert by_check((await run_audit(ctx, fix=False)).to_document(), "schema_behind") == []
