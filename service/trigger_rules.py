"""From validated request bodies to stored trigger rows: defaults, merges, versions, next_run_at.

One set of rules for every way a trigger changes (create, PATCH, enable/disable, revert, bulk),
so a bulk upsert computes exactly what single calls would. "Values" here are a trigger's user
fields in store form (`run_at` as UTC text, `payload` as a dict), as `user_values` reads them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from manage_db.jitter import shortest_gap
from manage_db.next_run import InvalidSchedule, Schedule, Window, initial_next_run
from manage_db.timestamps import from_db, to_db
from manage_db.triggers import USER_FIELDS, TriggerRow, user_values
from runner.templates import (
    MAX_MESSAGE_BYTES,
    MessageTooLarge,
    TemplateContext,
    TemplateError,
    check_message_size,
)
from service.errors import FieldError, InvalidFields, invalid
from service.inputs import TriggerFields

SCHEDULE_FIELDS = ("cron_expression", "cron_timezone", "run_at", "start_at", "end_at", "max_runs")
_INSTANTS = ("run_at", "start_at", "end_at")


def create_values(body: TriggerFields) -> dict[str, Any]:
    values = body.model_dump(include=set(USER_FIELDS))
    for name in _INSTANTS:
        value = getattr(body, name)
        values[name] = to_db(value) if value is not None else None
    return values


def patched_values(current: TriggerRow, patch: BaseModel) -> dict[str, Any]:
    """The current user fields with exactly the sent ones replaced: no defaults on update."""
    values = user_values(current)
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        values[name] = to_db(value) if name in _INSTANTS and value is not None else value
    return values


def _field(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


def check_schedule(
    values: dict[str, Any], *, now: datetime, require_future_run_at: bool, prefix: str = ""
) -> None:
    """Exactly one of cron_expression and run_at, checked on the whole (merged) trigger."""
    has_cron = values["cron_expression"] is not None
    has_run_at = values["run_at"] is not None
    if has_cron == has_run_at:
        message = (
            "exactly one of cron_expression and run_at must be set; both are"
            if has_cron
            else "exactly one of cron_expression and run_at must be set; neither is"
        )
        raise InvalidFields(
            [FieldError(_field(prefix, name), message) for name in ("cron_expression", "run_at")]
        )
    if has_run_at and require_future_run_at and _run_at(values) <= now:
        raise invalid(_field(prefix, "run_at"), "must be in the future")
    check_controls(values, now=now, prefix=prefix)


def check_controls(values: dict[str, Any], *, now: datetime, prefix: str = "") -> None:
    """The window is ordered and holds a one-time instant; jitter stays below the schedule's
    shortest gap, so a jittered occurrence never starts after the next one."""
    window = window_of(values)
    if window.start is not None and window.end is not None and window.end <= window.start:
        raise invalid(_field(prefix, "end_at"), "must be after start_at")
    if values["run_at"] is not None and not window.holds(_run_at(values)):
        raise invalid(_field(prefix, "run_at"), "is outside the window start_at..end_at")
    jitter = values.get("jitter_seconds") or 0
    if jitter and values["cron_expression"] is not None:
        try:
            gap = shortest_gap(values["cron_expression"], values["cron_timezone"], now)
        except InvalidSchedule:
            return  # the schedule's own error is reported where it is checked
        if jitter >= gap.total_seconds():
            raise invalid(
                _field(prefix, "jitter_seconds"),
                f"must be less than the schedule's shortest gap between fires"
                f" ({int(gap.total_seconds())} s)",
            )


def window_of(values: dict[str, Any]) -> Window:
    return Window(from_db(values.get("start_at")), from_db(values.get("end_at")))


def check_template_payload(
    values: dict[str, Any], *, now: datetime, prefix: str = "", cap: int = MAX_MESSAGE_BYTES
) -> None:
    """Every `{{payload.path}}` the template names must exist in the payload, which is fixed per
    trigger, and every message it renders must fit in `cap` bytes: otherwise every run would
    fail, so the save is refused instead. Nothing is rendered to find out."""
    context = TemplateContext(
        scheduled_for=now,
        timezone=values["cron_timezone"],
        trigger_id="x" * 63,  # as wide as an id gets
        trigger_name=values["name"],
        invocation_id=str(uuid.UUID(int=0)),
        payload=values["payload"],
    )
    try:
        check_message_size(values["message_template"], context, cap)
    except TemplateError as exc:
        raise invalid(_field(prefix, "message_template"), exc.message) from None
    except MessageTooLarge as exc:
        raise invalid(_field(prefix, "message_template"), str(exc)) from None


def _run_at(values: dict[str, Any]) -> datetime:
    moment = from_db(values["run_at"])
    assert moment is not None
    return moment


def next_run_for(values: dict[str, Any], now: datetime, prefix: str = "") -> str | None:
    """`next_run_at` as a create computes it: null when disabled, else the first instant from now.

    An enabled one-time trigger is (re)armed only with a future `run_at`: one in the past would
    never be due within its grace, or would fire at once on a stale instant.
    """
    if not values["enabled"]:
        return None
    if values["run_at"] is not None and _run_at(values) <= now:
        raise invalid(
            _field(prefix, "run_at"),
            "is in the past; an enabled one-time trigger needs a future run_at",
        )
    schedule = Schedule(
        cron_expression=values["cron_expression"],
        cron_timezone=values["cron_timezone"],
        run_at=from_db(values["run_at"]),
    )
    try:
        moment = initial_next_run(schedule, now, window_of(values))
    except InvalidSchedule as exc:
        raise invalid(_field(prefix, exc.field), exc.message) from None
    return to_db(moment) if moment is not None else None


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    payload = json.dumps(values["payload"], separators=(",", ":"), ensure_ascii=False)
    return {**values, "payload": payload}


@dataclass(frozen=True)
class Pausing:
    """Who makes a change, and the note a disable carries: a trigger disabled by it records
    them as its `pause`."""

    by: str
    note: str | None = None


def _pause(by: Pausing, now: datetime) -> str:
    return json.dumps({"note": by.note, "by": by.by, "at": to_db(now)}, ensure_ascii=False)


def new_row(
    values: dict[str, Any],
    *,
    trigger_id: str,
    agent_id: str,
    request_key: str | None,
    now: datetime,
    prefix: str = "",
    cap: int = MAX_MESSAGE_BYTES,
    by: Pausing | None = None,
) -> TriggerRow:
    """A trigger at version 1; raises InvalidFields for a schedule a create may not have."""
    check_schedule(values, now=now, require_future_run_at=True, prefix=prefix)
    check_template_payload(values, now=now, prefix=prefix, cap=cap)
    stamp = to_db(now)
    return TriggerRow(
        id=trigger_id,
        agent_id=agent_id,
        **_columns(values),
        next_run_at=next_run_for(values, now, prefix),
        last_scheduled_for=None,
        version=1,
        request_key=request_key,
        created_at=stamp,
        updated_at=stamp,
        pause=None if values["enabled"] or by is None else _pause(by, now),
    )


def changed_row(
    current: TriggerRow,
    values: dict[str, Any],
    *,
    now: datetime,
    require_future_run_at: bool = False,
    prefix: str = "",
    cap: int = MAX_MESSAGE_BYTES,
    by: Pausing | None = None,
) -> TriggerRow | None:
    """The next version of `current` with `values`, or None when nothing a user sees changes.

    `next_run_at` is recomputed from now when the schedule changes or the trigger is enabled
    (or enabled without one); otherwise it is kept, so an edit of the message does not move the
    schedule. Disabled triggers have none. Disabling records `by` as the pause (a disable of a
    disabled trigger with another note replaces the note); enabling clears it.
    """
    if values == user_values(current):
        if (
            current.enabled
            or by is None
            or by.note is None
            or (current.pause_dict or {}).get("note") == by.note
        ):
            return None
        return replace(
            current, pause=_pause(by, now), version=current.version + 1, updated_at=to_db(now)
        )
    if values["enabled"]:
        pause = None
    elif current.enabled and by is not None:
        pause = _pause(by, now)
    else:
        pause = current.pause
    check_schedule(values, now=now, require_future_run_at=require_future_run_at, prefix=prefix)
    check_template_payload(values, now=now, prefix=prefix, cap=cap)
    recompute = (
        not current.enabled
        or current.next_run_at is None
        or any(values[name] != getattr(current, name) for name in SCHEDULE_FIELDS)
    )
    if not values["enabled"]:
        next_run_at = None
    elif recompute:
        next_run_at = next_run_for(values, now, prefix)
    else:
        next_run_at = current.next_run_at
    return replace(
        current,
        **_columns(values),
        next_run_at=next_run_at,
        version=current.version + 1,
        updated_at=to_db(now),
        pause=pause,
    )


def cancels_pending(old: TriggerRow, new: TriggerRow) -> bool:
    """Disabling or rescheduling a trigger (like deleting it) makes its pending runs moot."""
    if old.enabled and not new.enabled:
        return True
    return any(getattr(old, name) != getattr(new, name) for name in SCHEDULE_FIELDS)
