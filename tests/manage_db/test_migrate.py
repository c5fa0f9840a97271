"""Manage-store migrations reach `main` and every project branch, backfill, and are idempotent."""

import sqlite3

from manage_db.migrate import branch_schema_versions, migrate_store, schema_version
from manage_db.schema import MIGRATIONS, Migration, latest_version
from manage_db.store import ManageStore, branch_heads, create_branch


def branches_behind(
    store: ManageStore, migrations: tuple[Migration, ...] = MIGRATIONS
) -> dict[str, int]:
    """Branches not at the latest schema, with their version."""
    target = latest_version(migrations)
    with store.read() as conn:
        versions = branch_schema_versions(conn, sorted(branch_heads(conn)))
    return {branch: version for branch, version in versions.items() if version < target}


def _seed_trigger(store: ManageStore, branch: str, trigger_id: str) -> None:
    with store.write(branch, author="alice", message=f"create {trigger_id}") as unit:
        unit.conn.execute(
            "insert into triggers (id, agent_id, name, enabled, cron_expression, cron_timezone,"
            " message_template, payload, max_retries, retry_delay_seconds, timeout_seconds,"
            " overlap_policy, misfire_grace_seconds, next_run_at, version, created_at, updated_at)"
            " values (?, 'a1', 'n', 1, '*/5 * * * *', 'UTC', 'hi', '{}', 3, 10, 30, 'allow', 300,"
            " '2026-01-01T00:05:00Z', 1, 't', 't')",
            (trigger_id,),
        )


def _priority_backfill(conn: sqlite3.Connection) -> None:
    conn.execute("update triggers set priority = length(id) where priority is null")


PRIORITY = Migration(
    version=MIGRATIONS[-1].version + 1,
    name="add triggers.priority, which the scheduler would read",
    statements=("alter table triggers add column priority integer",),
    backfill=_priority_backfill,
)


def test_a_new_migration_reaches_every_branch_and_backfills_existing_rows(
    manage_store: ManageStore,
) -> None:
    with manage_store.read() as conn:
        create_branch(conn, "acme/web/main")
        create_branch(conn, "acme/api/main")
    _seed_trigger(manage_store, "acme/web/main", "nightly")
    _seed_trigger(manage_store, "acme/api/main", "hourly-report")
    extended = (*MIGRATIONS, PRIORITY)

    current, new = MIGRATIONS[-1].version, PRIORITY.version
    assert branches_behind(manage_store, extended) == {
        "main": current,
        "acme/web/main": current,
        "acme/api/main": current,
    }
    report = migrate_store(manage_store, extended)

    assert report.migrated == {"main": [new], "acme/api/main": [new], "acme/web/main": [new]}
    with manage_store.read("acme/web/main") as conn:
        assert [tuple(r) for r in conn.execute("select id, priority from triggers")] == [
            ("nightly", 7)
        ]
        assert schema_version(conn) == new
        assert tuple(
            conn.execute("select committer, message from dolt_log limit 1").fetchone()
        ) == (
            "timekeeper-migrate",
            f"migrate schema to v{new} (applied {new})",
        )
    with manage_store.read("acme/api/main") as conn:
        assert [tuple(r) for r in conn.execute("select id, priority from triggers")] == [
            ("hourly-report", 13)
        ]
    assert branches_behind(manage_store, extended) == {}


def test_running_migrations_twice_changes_nothing(manage_store: ManageStore) -> None:
    with manage_store.read() as conn:
        create_branch(conn, "acme/web/main")
    _seed_trigger(manage_store, "acme/web/main", "nightly")
    extended = (*MIGRATIONS, PRIORITY)
    migrate_store(manage_store, extended)
    with manage_store.read() as conn:
        heads_before = branch_heads(conn)

    again = migrate_store(manage_store, extended)

    assert again.migrated == {}
    with manage_store.read() as conn:
        assert branch_heads(conn) == heads_before


def test_a_project_created_after_migration_starts_at_the_latest_schema(
    manage_store: ManageStore,
) -> None:
    with manage_store.read() as conn:
        create_branch(conn, "acme/new/main")
    assert branches_behind(manage_store) == {}
    with manage_store.read("acme/new/main") as conn:
        assert schema_version(conn) == MIGRATIONS[-1].version
