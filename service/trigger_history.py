"""A trigger's versions from Dolt history, revert to one of them, and its upcoming instants.

History lists only commits that changed a user-defined field. A revert is a new commit,
version +1, with `next_run_at` computed as any schedule change computes it; the commit it
reverts to must be in the trigger's history.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from manage_db.branches import project_branch
from manage_db.history import TriggerVersion, trigger_versions
from manage_db.jitter import jitter_key
from manage_db.next_run import Schedule
from manage_db.occurrences import Occurrence, occurrences
from manage_db.timestamps import from_db
from manage_db.triggers import TriggerRow, trigger_at_commit, user_values
from service.context import ServiceContext
from service.errors import invalid
from service.inputs import PageQuery, UpcomingQuery
from service.paging import Page, decode_cursor, page_of
from service.project_access import project_read
from service.scope import Scope
from service.triggers import Versions, change_trigger, current_trigger


def trigger_history(ctx: ServiceContext, scope: Scope, query: PageQuery) -> Page[TriggerVersion]:
    """Newest first, a page at a time; the cursor is the last commit shown."""
    branch = project_branch(scope.tenant_id, scope.project_id)
    with project_read(ctx, scope) as conn:
        current_trigger(conn, scope)
        versions = trigger_versions(conn, branch, scope.trigger_id)
    start = 0
    if query.cursor:
        after = decode_cursor(query.cursor, 1)[0]
        commits = [version.commit for version in versions]
        if after not in commits:
            raise invalid("cursor", "is not a cursor this list returned")
        start = commits.index(after) + 1
    return page_of(versions[start : start + query.limit + 1], query.limit, lambda v: (v.commit,))


def revert_trigger(
    ctx: ServiceContext, scope: Scope, if_match: Versions, commit: str
) -> TriggerRow:
    branch = project_branch(scope.tenant_id, scope.project_id)

    def restored(conn: sqlite3.Connection, current: TriggerRow) -> dict[str, Any]:
        old = trigger_at_commit(conn, branch, scope.trigger_id, commit)
        if old is None or old.agent_id != current.agent_id:
            raise invalid("commit", f"is not a version of trigger {scope.trigger_id}")
        return user_values(old)

    return change_trigger(
        ctx, scope, if_match, restored, lambda old, new: f"revert trigger {new.id} to {commit}"
    )


@dataclass(frozen=True)
class UpcomingInstants:
    trigger_id: str
    timezone: str
    occurrences: list[Occurrence]  # skipped ones listed and marked, each with its fire_at


def upcoming_instants(ctx: ServiceContext, scope: Scope, query: UpcomingQuery) -> UpcomingInstants:
    """The next fire instants by the dispatcher's own function; also for a disabled trigger,
    since it previews the schedule."""
    with project_read(ctx, scope) as conn:
        row = current_trigger(conn, scope)
    schedule = Schedule(
        cron_expression=row.cron_expression,
        cron_timezone=row.cron_timezone,
        run_at=from_db(row.run_at),
    )
    after = query.after or ctx.now()
    found = occurrences(
        schedule,
        after,
        query.count,
        window=row.window,
        skipped=row.skipped_instants,
        jitter_key=jitter_key(scope.tenant_id, scope.project_id, row.id),
        jitter_seconds=row.jitter_seconds,
    )
    return UpcomingInstants(row.id, row.cron_timezone, found)
