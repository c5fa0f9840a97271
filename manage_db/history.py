"""A trigger's versions, read from Dolt history: the commits that changed what a user defined.

Dolt records every commit that touched a row (stores written by older versions also hold the
dispatcher's `next_run_at` advances); a user paging through versions wants only the commits where
a field of `USER_FIELDS` changed, so the others are folded away here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from manage_db.timestamps import to_db
from manage_db.triggers import TriggerRow, trigger_history_rows, user_values


@dataclass(frozen=True)
class TriggerVersion:
    commit: str
    author: str
    time: str  # UTC, `YYYY-MM-DDTHH:MM:SSZ`
    message: str
    trigger: TriggerRow


def _utc_text(dolt_date: str) -> str:
    """Dolt's `YYYY-MM-DD HH:MM:SS` (UTC) in the store's timestamp form."""
    return to_db(datetime.fromisoformat(dolt_date[:19]).replace(tzinfo=UTC))


def trigger_versions(
    conn: sqlite3.Connection, branch: str, trigger_id: str
) -> list[TriggerVersion]:
    """Newest first: each commit on `branch` where the trigger appeared or a user field changed.

    A commit where the trigger is absent (deleted, later re-created) ends a run of versions, so
    the re-creation is listed as a version of its own.
    """
    log = conn.execute(
        "select commit_hash, committer, date, message from dolt_log(?)", (branch,)
    ).fetchall()
    rows = trigger_history_rows(conn, branch, trigger_id)
    versions: list[TriggerVersion] = []
    previous: dict[str, Any] | None = None
    for commit, author, date, message in reversed(log):
        row = rows.get(commit)
        if row is None:
            previous = None
            continue
        current = user_values(row)
        if current != previous:
            versions.append(TriggerVersion(commit, author, _utc_text(date), message, row))
        previous = current
    versions.reverse()
    return versions
