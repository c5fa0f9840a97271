"""Bring `main` and every project branch to the latest manage schema, backfilling as it goes.

Each branch is migrated in its own unit of work: one SQL transaction and one Dolt commit that
names the versions applied. Running it again finds nothing to do and commits nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from manage_db.branches import SCHEMA_BRANCH
from manage_db.schema import MIGRATIONS, Migration, latest_version
from manage_db.store import ManageStore, branch_heads

MIGRATION_AUTHOR = "timekeeper-migrate"


@dataclass
class MigrationReport:
    target_version: int
    branches_seen: int = 0
    migrated: dict[str, list[int]] = field(default_factory=dict)


def schema_version(conn: sqlite3.Connection) -> int:
    """The version of the branch the connection is on; 0 for an empty repository."""
    exists = conn.execute(
        "select 1 from sqlite_master where type = 'table' and name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    return int(conn.execute("select version from schema_version where id = 1").fetchone()[0])


def branch_schema_versions(conn: sqlite3.Connection, branches: list[str]) -> dict[str, int]:
    """Each branch's schema version read through `dolt_at_schema_version`, without checkouts."""
    versions: dict[str, int] = {}
    for branch in branches:
        try:
            row = conn.execute(
                "select version from dolt_at_schema_version(?) where id = 1", (branch,)
            ).fetchone()
        except sqlite3.OperationalError:
            row = None
        versions[branch] = int(row[0]) if row else 0
    return versions


def apply_pending(conn: sqlite3.Connection, migrations: tuple[Migration, ...]) -> list[int]:
    """Apply every migration newer than the branch's version, with its backfill; never commits."""
    current = schema_version(conn)
    applied: list[int] = []
    for migration in migrations:
        if migration.version <= current:
            continue
        for statement in migration.statements:
            conn.execute(statement)
        if migration.backfill is not None:
            migration.backfill(conn)
        conn.execute("update schema_version set version = ? where id = 1", (migration.version,))
        applied.append(migration.version)
    return applied


def migrate_store(
    store: ManageStore,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    progress: Callable[[str, list[int]], None] | None = None,
) -> MigrationReport:
    """`main` first (new projects branch from it), then every other branch behind the target."""
    target = latest_version(migrations)
    report = MigrationReport(target_version=target)
    with store.read() as conn:
        heads = branch_heads(conn)
        others = sorted(name for name in heads if name != SCHEMA_BRANCH)
        versions = branch_schema_versions(conn, others)
    report.branches_seen = len(heads)
    for branch in [SCHEMA_BRANCH, *others]:
        if branch != SCHEMA_BRANCH and versions[branch] >= target:
            continue
        with store.write(branch, author=MIGRATION_AUTHOR, message="migrate schema") as unit:
            applied = apply_pending(unit.conn, migrations)
            unit.message = f"migrate schema to v{target} (applied {', '.join(map(str, applied))})"
        if applied:
            report.migrated[branch] = applied
            if progress is not None:
                progress(branch, applied)
    return report
