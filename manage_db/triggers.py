"""Scheduled trigger definitions: rows and reads, on a branch or at any revision.

`next_run_at` here is the value computed when the definition was saved, and `last_scheduled_for`
what an older version of the dispatcher wrote; where a trigger stands in its schedule now lives in
the runtime store (`runtime_db.schedules`), which the dispatcher moves without a Dolt commit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from manage_db.next_run import Window
from manage_db.timestamps import from_db, instants_of, to_db

# Columns the server manages; every other column of `TriggerRow` is a field a user defines.
SERVER_FIELDS = (
    "id",
    "agent_id",
    "next_run_at",
    "last_scheduled_for",
    "version",
    "request_key",
    "created_at",
    "updated_at",
    "pause",
    "skipped",
    "completed_reason",
)
# Not a column: why an enabled trigger has nothing left to fire, overlaid from schedule state.
TRANSIENT_FIELDS = ("completed_reason",)


@dataclass(frozen=True)
class TriggerRow:
    id: str
    agent_id: str
    name: str
    description: str | None
    enabled: bool
    cron_expression: str | None
    run_at: str | None
    cron_timezone: str
    message_template: str
    payload: str  # JSON object text
    max_retries: int
    retry_delay_seconds: int
    timeout_seconds: int
    overlap_policy: str
    misfire_grace_seconds: int
    catchup: str  # latest | all
    next_run_at: str | None
    last_scheduled_for: str | None
    version: int
    request_key: str | None
    created_at: str
    updated_at: str
    # JSON `{"note", "by", "at"}` while a user has the trigger disabled; None when enabled.
    pause: str | None = None
    jitter_seconds: int = 0
    start_at: str | None = None
    end_at: str | None = None
    max_runs: int | None = None
    # JSON list of future UTC instants not to fire (server-managed: skip/unskip).
    skipped: str | None = None
    completed_reason: str | None = None

    @property
    def window(self) -> Window:
        """`start_at`..`end_at` as instants; ValueError for a stored value that is not one."""
        return Window(from_db(self.start_at), from_db(self.end_at))

    @property
    def skipped_instants(self) -> frozenset[datetime]:
        """The `skipped` list as instants."""
        return instants_of(json.loads(self.skipped)) if self.skipped else frozenset()

    @property
    def pause_dict(self) -> dict[str, Any] | None:
        """The pause (`note`, `by`, `at`) while a user has the trigger disabled."""
        pause: dict[str, Any] | None = json.loads(self.pause) if self.pause else None
        return pause

    @property
    def payload_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.payload)
        return payload

    def user_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in USER_FIELDS}


def skipped_text(instants: Iterable[datetime]) -> str | None:
    """How `skipped` is stored: a JSON list of instants in time order; None when empty."""
    ordered = sorted(instants)
    return json.dumps([to_db(t) for t in ordered]) if ordered else None


# Fields a user defines. History lists only versions that change these.
USER_FIELDS = tuple(f.name for f in fields(TriggerRow) if f.name not in SERVER_FIELDS)
_STORED = tuple(f.name for f in fields(TriggerRow) if f.name not in TRANSIENT_FIELDS)
_COLUMNS = ", ".join(_STORED)
_PLACEHOLDERS = ", ".join("?" for _ in _STORED)


def _row(values: sqlite3.Row | tuple[Any, ...]) -> TriggerRow:
    row = TriggerRow(*tuple(values)[: len(_STORED)])
    return replace(row, enabled=bool(row.enabled))


def get_trigger(conn: sqlite3.Connection, trigger_id: str) -> TriggerRow | None:
    row = conn.execute(f"select {_COLUMNS} from triggers where id = ?", (trigger_id,)).fetchone()
    return _row(row) if row else None


def find_by_request_key(conn: sqlite3.Connection, request_key: str) -> TriggerRow | None:
    row = conn.execute(
        f"select {_COLUMNS} from triggers where request_key = ?", (request_key,)
    ).fetchone()
    return _row(row) if row else None


def list_triggers(
    conn: sqlite3.Connection,
    agent_id: str | None = None,
    *,
    after_id: str | None = None,
    limit: int | None = None,
) -> list[TriggerRow]:
    """By id; `after_id` and `limit` page through them (keyset on the id)."""
    query = f"select {_COLUMNS} from triggers where 1 = 1"
    params: list[Any] = []
    if agent_id is not None:
        query += " and agent_id = ?"
        params.append(agent_id)
    if after_id is not None:
        query += " and id > ?"
        params.append(after_id)
    query += " order by id"
    if limit is not None:
        query += " limit ?"
        params.append(limit)
    return [_row(r) for r in conn.execute(query, params)]


def insert_trigger(conn: sqlite3.Connection, row: TriggerRow) -> None:
    values = [getattr(row, name) for name in _STORED]
    conn.execute(f"insert into triggers ({_COLUMNS}) values ({_PLACEHOLDERS})", values)


def replace_trigger(conn: sqlite3.Connection, row: TriggerRow, expected_version: int) -> bool:
    """Write every column if the stored version is still `expected_version` (optimistic lock)."""
    assignments = ", ".join(f"{name} = ?" for name in _STORED if name != "id")
    values = [getattr(row, name) for name in _STORED if name != "id"]
    cursor = conn.execute(
        f"update triggers set {assignments} where id = ? and version = ?",
        (*values, row.id, expected_version),
    )
    return cursor.rowcount == 1


def delete_trigger(conn: sqlite3.Connection, trigger_id: str) -> bool:
    return conn.execute("delete from triggers where id = ?", (trigger_id,)).rowcount == 1


def read_trigger_at(conn: sqlite3.Connection, branch: str, trigger_id: str) -> TriggerRow | None:
    """A trigger as it stands at a branch head (or any revision), without a checkout."""
    try:
        row = conn.execute(
            f"select {_COLUMNS} from dolt_at_triggers(?) where id = ?", (branch, trigger_id)
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    return _row(row) if row else None


def list_triggers_at(conn: sqlite3.Connection, revision: str) -> list[TriggerRow]:
    """Every trigger at a branch head or commit, without a checkout (the audit's scan).

    Raises `sqlite3.OperationalError` when the revision lacks the table or a column.
    """
    rows = conn.execute(f"select {_COLUMNS} from dolt_at_triggers(?) order by id", (revision,))
    return [_row(r) for r in rows]


def trigger_history_rows(
    conn: sqlite3.Connection, branch: str, trigger_id: str
) -> dict[str, TriggerRow]:
    """The trigger at every commit of `branch` that holds it, keyed by commit hash."""
    rows = conn.execute(
        f"select {_COLUMNS}, commit_hash from dolt_history_triggers(?) where id = ?",
        (branch, trigger_id),
    )
    return {row["commit_hash"]: _row(row) for row in rows}


def trigger_at_commit(
    conn: sqlite3.Connection, branch: str, trigger_id: str, commit: str
) -> TriggerRow | None:
    """The trigger as it stood at `commit`, if that commit is in `branch`'s history and holds it."""
    row = conn.execute(
        f"select {_COLUMNS} from dolt_history_triggers(?) where id = ? and commit_hash = ?",
        (branch, trigger_id, commit),
    ).fetchone()
    return _row(row) if row else None


def user_values(row: TriggerRow) -> dict[str, Any]:
    """The user fields with `payload` parsed: equal when a user would call them the same."""
    return {**row.user_fields(), "payload": row.payload_dict}
