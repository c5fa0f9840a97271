"""Agents of a project: where and how to deliver. Secrets never live here, only env var names."""

from __future__ import annotations

import sqlite3
from dataclasses import astuple, dataclass, fields


@dataclass(frozen=True)
class AgentRow:
    id: str
    name: str
    endpoint_url: str
    protocol: str
    auth_header_env: str | None
    created_at: str
    updated_at: str


_COLUMNS = ", ".join(f.name for f in fields(AgentRow))
_PLACEHOLDERS = ", ".join("?" for _ in fields(AgentRow))


def get_agent(conn: sqlite3.Connection, agent_id: str) -> AgentRow | None:
    row = conn.execute(f"select {_COLUMNS} from agents where id = ?", (agent_id,)).fetchone()
    return AgentRow(*row) if row else None


def list_agents(conn: sqlite3.Connection) -> list[AgentRow]:
    return [AgentRow(*r) for r in conn.execute(f"select {_COLUMNS} from agents order by id")]


def upsert_agent(conn: sqlite3.Connection, row: AgentRow) -> None:
    """Insert or replace, keeping the original `created_at`."""
    conn.execute(
        f"insert into agents ({_COLUMNS}) values ({_PLACEHOLDERS}) "
        "on conflict (id) do update set name = excluded.name, endpoint_url = excluded.endpoint_url,"
        " protocol = excluded.protocol, auth_header_env = excluded.auth_header_env,"
        " updated_at = excluded.updated_at",
        astuple(row),
    )


def delete_agent(conn: sqlite3.Connection, agent_id: str) -> bool:
    return conn.execute("delete from agents where id = ?", (agent_id,)).rowcount == 1


def read_agent_at(conn: sqlite3.Connection, branch: str, agent_id: str) -> AgentRow | None:
    """Read an agent from a branch's head without checking it out (used by the runner)."""
    try:
        row = conn.execute(
            f"select {_COLUMNS} from dolt_at_agents(?) where id = ?", (branch, agent_id)
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    return AgentRow(*row) if row else None
