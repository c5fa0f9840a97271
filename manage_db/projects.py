"""Projects: one row on the project's own branch, and the branch itself."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from manage_db.branches import parse_branch, project_branch
from manage_db.store import branch_heads


@dataclass(frozen=True)
class ProjectRow:
    id: str
    tenant_id: str
    name: str
    description: str | None
    created_at: str
    updated_at: str


_COLUMNS = "id, tenant_id, name, description, created_at, updated_at"


def insert_project(conn: sqlite3.Connection, row: ProjectRow) -> None:
    conn.execute(
        f"insert into projects ({_COLUMNS}) values (?, ?, ?, ?, ?, ?)",
        (row.id, row.tenant_id, row.name, row.description, row.created_at, row.updated_at),
    )


def get_project(conn: sqlite3.Connection, project_id: str) -> ProjectRow | None:
    row = conn.execute(f"select {_COLUMNS} from projects where id = ?", (project_id,)).fetchone()
    return ProjectRow(*row) if row else None


def read_project_at(conn: sqlite3.Connection, tenant_id: str, project_id: str) -> ProjectRow | None:
    """Read a project's row from its branch without checking the branch out."""
    branch = project_branch(tenant_id, project_id)
    try:
        row = conn.execute(
            f"select {_COLUMNS} from dolt_at_projects(?) where id = ?", (branch, project_id)
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    return ProjectRow(*row) if row else None


def list_project_refs(
    conn: sqlite3.Connection, tenant_id: str | None = None
) -> list[tuple[str, str]]:
    """(tenant_id, project_id) of every project branch, optionally of one tenant, sorted."""
    refs = []
    for name in branch_heads(conn):
        ref = parse_branch(name)
        if ref is not None and (tenant_id is None or ref.tenant_id == tenant_id):
            refs.append((ref.tenant_id, ref.project_id))
    return sorted(refs)
