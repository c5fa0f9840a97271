"""Trigger checks: a missing `next_run_at` (found and recomputed), overdue triggers, schedules
that no longer parse, and branches behind the manage schema."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from audit.findings import NEXT_RUN_MISSING, Finding
from audit.repairs import repair_next_run_missing
from audit.run import run_audit
from audit.scan import read_manage
from manage_db.migrate import apply_pending, migrate_store
from manage_db.schema import MIGRATIONS, Migration
from manage_db.store import ManageStore, branch_heads
from manage_db.triggers import get_trigger, list_triggers
from tests.audit.conftest import (
    NOW,
    add_triggers,
    audit_context,
    by_check,
    trigger_row,
    user_disable,
)

# The classic bug: a migration that rebuilt `next_run_at` with no backfill.
REBUILD_WITHOUT_BACKFILL = Migration(
    2,
    "rebuild next_run_at (no backfill)",
    (
        "drop index triggers_due",
        "alter table triggers drop column next_run_at",
        "alter table triggers add column next_run_at text",
        "create index triggers_due on triggers (enabled, next_run_at)",
    ),
)
WITH_REBUILD = (*MIGRATIONS, REBUILD_WITHOUT_BACKFILL)


def _log(store: ManageStore, branch: str) -> list[tuple[str, str]]:
    with store.read(branch) as conn:
        return [tuple(r) for r in conn.execute("select committer, message from dolt_log limit 2")]


async def test_next_run_missing_after_a_migration_without_backfill_is_recomputed(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    web = add_triggers(
        manage_store,
        "acme",
        "web",
        trigger_row("daily"),
        trigger_row("once", cron_expression=None, run_at="2030-02-01T12:00:00Z"),
        trigger_row("paused", enabled=False),
    )
    api = add_triggers(
        manage_store, "acme", "api", trigger_row("hourly", cron_expression="0 * * * *")
    )
    migrate_store(manage_store, WITH_REBUILD)
    ctx = audit_context(manage_store, session_factory, migrations=WITH_REBUILD)
    with manage_store.read() as conn:
        heads_before = branch_heads(conn)

    report = await run_audit(ctx, fix=False)

    with manage_store.read() as conn:
        assert branch_heads(conn) == heads_before, "a report-only audit commits nothing"
    message = "enabled trigger has no next_run_at: it will never fire"
    assert by_check(report.to_document(), NEXT_RUN_MISSING) == [
        {
            "check": NEXT_RUN_MISSING,
            "subject": {"tenant_id": "acme", "project_id": "api", "trigger_id": "hourly"},
            "message": message,
            "fixable": True,
            "fixed": False,
        },
        {
            "check": NEXT_RUN_MISSING,
            "subject": {"tenant_id": "acme", "project_id": "web", "trigger_id": "daily"},
            "message": message,
            "fixable": True,
            "fixed": False,
        },
        {
            "check": NEXT_RUN_MISSING,
            "subject": {"tenant_id": "acme", "project_id": "web", "trigger_id": "once"},
            "message": message,
            "fixable": True,
            "fixed": False,
        },
    ]

    fixed = await run_audit(ctx, fix=True)

    assert [
        (f["subject"]["trigger_id"], f["fixed"])
        for f in by_check(fixed.to_document(), NEXT_RUN_MISSING)
    ] == [
        ("hourly", True),
        ("daily", True),
        ("once", True),
    ]
    with manage_store.read(web) as conn:
        assert {t.id: t.next_run_at for t in list_triggers(conn)} == {
            "daily": "2030-01-08T09:00:00Z",
            "once": "2030-02-01T12:00:00Z",
            "paused": None,
        }
        assert get_trigger(conn, "daily").version == 1  # type: ignore[union-attr]
        assert get_trigger(conn, "daily").updated_at == "2030-01-07T10:00:00Z"  # type: ignore[union-attr]
    with manage_store.read(api) as conn:
        assert get_trigger(conn, "hourly").next_run_at == "2030-01-07T11:00:00Z"  # type: ignore[union-attr]
    # One commit per branch, authored `audit`, naming the triggers it repaired.
    assert _log(manage_store, web)[0] == (
        "audit",
        "audit: recompute missing next_run_at of daily, once",
    )
    assert _log(manage_store, web)[1][0] == "timekeeper-migrate"
    assert _log(manage_store, api)[0] == ("audit", "audit: recompute missing next_run_at of hourly")
    web_commit = _log(manage_store, web)
    with manage_store.read() as conn:
        heads = branch_heads(conn)
    assert [r["action"] for r in fixed.to_document()["repairs"]] == [
        f"next_run_at set to 2030-01-07T11:00:00Z (commit {heads[api]})",
        f"next_run_at set to 2030-01-08T09:00:00Z (commit {heads[web]})",
        f"next_run_at set to 2030-02-01T12:00:00Z (commit {heads[web]})",
    ]

    again = await run_audit(ctx, fix=True)

    assert by_check(again.to_document(), NEXT_RUN_MISSING) == []
    assert _log(manage_store, web) == web_commit, "nothing left to repair, nothing committed"


async def test_a_concurrent_user_edit_wins_over_the_recompute(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    branch = add_triggers(manage_store, "acme", "web", trigger_row("daily", next_run_at=None))
    snapshot = read_manage(manage_store, MIGRATIONS)
    finding = Finding(
        NEXT_RUN_MISSING,
        {"tenant_id": "acme", "project_id": "web", "trigger_id": "daily"},
        "enabled trigger has no next_run_at: it will never fire",
        fixable=True,
    )
    user_disable(manage_store, "acme", "web", "daily")
    with manage_store.read() as conn:
        heads = branch_heads(conn)

    repairs = repair_next_run_missing(manage_store, snapshot, [finding], NOW)

    assert (repairs, finding.fixed) == ([], False)
    with manage_store.read(branch) as conn:
        row = get_trigger(conn, "daily")
        assert (row.enabled, row.next_run_at, row.version) == (False, None, 2)  # type: ignore[union-attr]
        assert branch_heads(conn) == heads


async def test_overdue_means_more_than_two_ticks_late(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    add_triggers(
        manage_store,
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
    add_triggers(manage_store, "acme", "web", trigger_row("daily"))
    add_triggers(manage_store, "beta", "app", trigger_row("daily"))
    newer = (*MIGRATIONS, Migration(2, "add a column", ("alter table triggers add column x text",)))
    # `main` moved on (new projects branch from it); the existing project branches did not.
    with manage_store.write("main", author="timekeeper-migrate", message="v2") as unit:
        apply_pending(unit.conn, newer)
    ctx = audit_context(manage_store, session_factory, migrations=newer)

    document = (await run_audit(ctx, fix=True)).to_document()

    message = "schema version 1, latest is 2: run `timekeeper migrate`"
    assert by_check(document, "schema_behind") == [
        {
            "check": "schema_behind",
            "subject": {"branch": "acme/web/main", "version": 1},
            "message": message,
            "fixable": False,
            "fixed": False,
        },
        {
            "check": "schema_behind",
            "subject": {"branch": "beta/app/main", "version": 1},
            "message": message,
            "fixable": False,
            "fixed": False,
        },
    ]
    assert document["counts"]["schema_behind"] == 2

    migrate_store(manage_store, newer)

    assert by_check((await run_audit(ctx, fix=False)).to_document(), "schema_behind") == []
