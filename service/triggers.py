"""Scheduled triggers of an agent: create, read, list, change, enable, disable and delete.

Each change is one commit authored by the caller, guarded twice against lost updates: the
version the caller last read (`if_match`), and a compare-and-set on `version` in the store.
Rescheduling, disabling or deleting a trigger cancels its pending invocations after the commit.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from manage_db.agents import get_agent
from manage_db.timestamps import from_db, to_db
from manage_db.triggers import (
    USER_FIELDS,
    TriggerRow,
    find_by_request_key,
    get_trigger,
    insert_trigger,
    list_triggers,
    replace_trigger,
    skipped_text,
    user_values,
)
from manage_db.triggers import delete_trigger as _delete_row
from runtime_db.models import TriggerSchedule
from runtime_db.schedules import get_schedules
from service.context import ServiceContext
from service.errors import Conflict, NotFound, PreconditionFailed
from service.inputs import PageQuery, TriggerCreate
from service.paging import Page, decode_cursor, page_of
from service.project_access import project_read, project_write
from service.scope import Scope
from service.trigger_rules import (
    Pausing,
    cancels_pending,
    changed_row,
    create_values,
    new_row,
    patched_values,
)

Values = dict[str, Any]
# The versions a caller bases a change on (what it last read); None when it does not say.
Versions = frozenset[int] | None
ValuesOf = Callable[[sqlite3.Connection, TriggerRow], Values]


def effective(ctx: ServiceContext, scope: Scope, rows: list[TriggerRow]) -> list[TriggerRow]:
    """Triggers as a user sees them: every trigger an operation answers with passes here.

    `next_run_at` and `last_scheduled_for` are where the trigger stands in its schedule, which
    lives in PostgreSQL; a definition not yet synced answers what it was saved with.
    """
    if not rows:
        return rows
    with ctx.session_factory() as session:
        states = get_schedules(session, scope.tenant_id, scope.project_id, [r.id for r in rows])
    now = ctx.now()
    return [_with_state(_future_skips(row, now), states.get(row.id)) for row in rows]


def _future_skips(row: TriggerRow, now: datetime) -> TriggerRow:
    """Skipped instants that have passed are history (their `skipped` invocations say so)."""
    if not row.skipped:
        return row
    return replace(row, skipped=skipped_text(t for t in row.skipped_instants if t > now))


def _with_state(row: TriggerRow, state: TriggerSchedule | None) -> TriggerRow:
    if state is None or state.definition_version != row.version:
        return row
    return replace(
        row,
        next_run_at=to_db(state.next_run_at) if state.next_run_at else None,
        last_scheduled_for=to_db(state.last_scheduled_for) if state.last_scheduled_for else None,
        completed_reason=state.completed_reason if state.next_run_at is None else None,
    )


def _one(ctx: ServiceContext, scope: Scope, row: TriggerRow) -> TriggerRow:
    return effective(ctx, scope, [row])[0]


def agent_missing(agent_id: str) -> NotFound:
    return NotFound(f"Agent {agent_id} not found.")


def current_trigger(conn: sqlite3.Connection, scope: Scope) -> TriggerRow:
    """The trigger `scope` names, which must belong to the scope's agent."""
    row = get_trigger(conn, scope.trigger_id)
    if row is None or row.agent_id != scope.agent_id:
        raise NotFound(f"Trigger {scope.trigger_id} not found.")
    return row


def check_version(if_match: Versions, version: int) -> None:
    """The current version must be one the caller expects, when it says which it expects."""
    if if_match is not None and version not in if_match:
        raise PreconditionFailed(
            f"If-Match does not match the current version ({version}); nothing was changed.",
            version,
        )


def _same_request(existing: TriggerRow, values: Values) -> bool:
    """Whether a repeated create asks for what `existing` was created with.

    A one-time trigger that has fired is still the same definition, so a repeat answers it.
    """
    return user_values(existing) == values


def create_trigger(
    ctx: ServiceContext, scope: Scope, body: TriggerCreate, request_key: str | None = None
) -> tuple[TriggerRow, bool]:
    """Idempotent by client id or request key: an identical repeat answers the existing row
    (and False); a repeat with other fields is a Conflict."""
    now = ctx.now()
    values = create_values(body)
    trigger_id = body.id or f"t-{uuid.uuid4().hex[:12]}"
    with project_write(ctx, scope, f"create trigger {trigger_id}") as write:
        if get_agent(write.conn, scope.agent_id) is None:
            raise agent_missing(scope.agent_id)
        if body.id is not None:
            existing = get_trigger(write.conn, body.id)
        elif request_key is not None:
            existing = find_by_request_key(write.conn, request_key)
        else:
            existing = None
        if existing is not None:
            if existing.agent_id == scope.agent_id and _same_request(existing, values):
                return _one(ctx, scope, existing), False
            if body.id is not None:
                raise Conflict(f"Trigger {existing.id} already exists with other fields.")
            raise Conflict(f"This Idempotency-Key created trigger {existing.id} with other fields.")
        row = new_row(
            values,
            trigger_id=trigger_id,
            agent_id=scope.agent_id,
            request_key=request_key,
            now=now,
            cap=ctx.max_message_bytes,
            by=Pausing(scope.principal),
        )
        insert_trigger(write.conn, row)
    return _one(ctx, scope, row), True


def list_agent_triggers(ctx: ServiceContext, scope: Scope, query: PageQuery) -> Page[TriggerRow]:
    """The agent's triggers by id, a page at a time."""
    with project_read(ctx, scope) as conn:
        if get_agent(conn, scope.agent_id) is None:
            raise agent_missing(scope.agent_id)
        return _page(ctx, scope, conn, query, scope.agent_id)


def list_project_triggers(ctx: ServiceContext, scope: Scope, query: PageQuery) -> Page[TriggerRow]:
    """All of the project's triggers by id, a page at a time."""
    with project_read(ctx, scope) as conn:
        return _page(ctx, scope, conn, query, None)


def _page(
    ctx: ServiceContext,
    scope: Scope,
    conn: sqlite3.Connection,
    query: PageQuery,
    agent_id: str | None,
) -> Page[TriggerRow]:
    after = decode_cursor(query.cursor, 1)[0] if query.cursor else None
    rows = list_triggers(conn, agent_id, after_id=after, limit=query.limit + 1)
    page = page_of(rows, query.limit, lambda row: (row.id,))
    return Page(effective(ctx, scope, page.items), page.next_cursor)


def get_trigger_of(ctx: ServiceContext, scope: Scope) -> TriggerRow:
    with project_read(ctx, scope) as conn:
        return _one(ctx, scope, current_trigger(conn, scope))


def _changed_fields(old: TriggerRow, new: TriggerRow) -> list[str]:
    return [name for name in USER_FIELDS if getattr(old, name) != getattr(new, name)]


def change_trigger(
    ctx: ServiceContext,
    scope: Scope,
    if_match: Versions,
    values_of: ValuesOf,
    message_of: Callable[[TriggerRow, TriggerRow], str],
    *,
    require_future_run_at: bool = False,
    note: str | None = None,
) -> TriggerRow:
    """Apply one change as one commit; a change that alters nothing commits nothing."""
    with project_write(ctx, scope, f"update trigger {scope.trigger_id}") as write:
        current = current_trigger(write.conn, scope)
        check_version(if_match, current.version)
        new = changed_row(
            current,
            values_of(write.conn, current),
            now=ctx.now(),
            require_future_run_at=require_future_run_at,
            cap=ctx.max_message_bytes,
            by=Pausing(scope.principal, note),
        )
        if new is None:
            return _one(ctx, scope, current)
        if not replace_trigger(write.conn, new, current.version):
            raise PreconditionFailed("The trigger changed meanwhile; nothing was changed.")
        write.message = message_of(current, new)
        if cancels_pending(current, new):
            write.cancel_pending(
                write.message, agent_id=scope.agent_id, trigger_ids=[scope.trigger_id]
            )
    return _one(ctx, scope, new)


def patch_trigger(
    ctx: ServiceContext, scope: Scope, if_match: Versions, patch: BaseModel
) -> TriggerRow:
    """Change exactly the fields set on `patch` (a TriggerPatch)."""

    def message(old: TriggerRow, new: TriggerRow) -> str:
        return f"update trigger {new.id}: {', '.join(_changed_fields(old, new))}"

    sent_run_at = "run_at" in patch.model_fields_set and getattr(patch, "run_at") is not None  # noqa: B009
    return change_trigger(
        ctx,
        scope,
        if_match,
        lambda conn, current: patched_values(current, patch),
        message,
        require_future_run_at=sent_run_at,
    )


def set_enabled(
    ctx: ServiceContext,
    scope: Scope,
    if_match: Versions,
    enabled: bool,
    note: str | None = None,
) -> TriggerRow:
    """Enable, or disable (pause) with an optional note, recorded with who and when. A trigger
    with nothing left to fire cannot be enabled (409 saying what to change)."""
    if enabled:
        _refuse_if_completed(get_trigger_of(ctx, scope), ctx.now())
    verb = "enable" if enabled else "disable"
    return change_trigger(
        ctx,
        scope,
        if_match,
        lambda conn, current: {**user_values(current), "enabled": enabled},
        lambda old, new: f"{verb} trigger {new.id}" + (f": {note}" if note else ""),
        note=note,
    )


def delete_trigger(ctx: ServiceContext, scope: Scope, if_match: Versions) -> None:
    with project_write(ctx, scope, f"delete trigger {scope.trigger_id}") as write:
        current = current_trigger(write.conn, scope)
        check_version(if_match, current.version)
        _delete_row(write.conn, current.id)
        write.cancel_pending(
            f"trigger {scope.trigger_id} deleted",
            agent_id=scope.agent_id,
            trigger_ids=[scope.trigger_id],
        )


def status_of(row: TriggerRow) -> tuple[str, str | None]:
    """`active`, `paused` (disabled by a user) or `completed` (nothing left to fire), with the
    reason a trigger completed; `row` is the effective one (schedule state overlaid)."""
    if not row.enabled:
        return "paused", None
    if row.completed_reason is not None:
        return "completed", row.completed_reason
    if row.run_at is not None and row.next_run_at is None:
        if row.last_scheduled_for is not None:
            return "completed", f"fired once, at {row.last_scheduled_for}"
        return "completed", f"its one-time instant {row.run_at} passed without a run"
    return "active", None


def _refuse_if_completed(row: TriggerRow, now: datetime) -> None:
    status, reason = status_of(row)
    if status == "completed":
        raise Conflict(
            f"Trigger {row.id} is completed ({reason}): nothing is left to fire. {_rearm(row)}"
        )
    if not row.enabled:
        window_end = from_db(row.end_at)
        if window_end is not None and window_end <= now:
            raise Conflict(
                f"Trigger {row.id} cannot fire again: end_at {row.end_at} has passed. {_rearm(row)}"
            )


def _rearm(row: TriggerRow) -> str:
    """What to change so a completed trigger fires again."""
    if row.run_at is not None:
        return "To run it again, PATCH a future run_at."
    if row.end_at is not None and (
        row.max_runs is None or "end_at" in (row.completed_reason or "")
    ):
        return "To run it again, PATCH a later end_at (or null)."
    return "To run it again, PATCH a higher max_runs (or null)."
