"""Scheduling controls beyond the definition's fields: skip and unskip occurrences, backfill a
past range, and preview a schedule before saving it.

Skips are part of the trigger's definition (`skipped`, versioned like any change, with an
author): the dispatcher passes over a skipped instant, recording it `skipped`, and fires the
next one. A backfill runs past instants now, as invocations of kind `backfill`, idempotent per
instant; it honours the overlap policy like any run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from manage_db.describe import describe_schedule
from manage_db.jitter import jitter_key
from manage_db.next_run import InvalidSchedule, Schedule, is_fire_time, iter_fire_times
from manage_db.occurrences import Occurrence, occurrences
from manage_db.timestamps import from_db, to_db, utc
from manage_db.triggers import TriggerRow, replace_trigger, skipped_text
from runner.contract import CURRENT_STEPS, RunnerInput, scheduled_slot
from runner.launch import LaunchFailed, start_backfill
from service.context import ServiceContext
from service.errors import FieldError, InvalidFields, NotFound, PreconditionFailed, Unavailable
from service.errors import invalid as invalid_field
from service.inputs import MAX_BACKFILL, BackfillBody, SchedulePreview, SkipBody, UnskipBody
from service.project_access import project_read, project_write
from service.scope import Scope
from service.trigger_rules import check_schedule, window_of
from service.triggers import Versions, check_version, current_trigger, get_trigger_of


@dataclass(frozen=True)
class Preview:
    description: str
    timezone: str
    occurrences: list[Occurrence]


@dataclass(frozen=True)
class Backfill:
    instants: list[datetime]
    started: int


def schedule_of(row: TriggerRow) -> Schedule:
    return Schedule(row.cron_expression, row.cron_timezone, from_db(row.run_at))


def _change_skips(
    ctx: ServiceContext,
    scope: Scope,
    if_match: Versions,
    verb: str,
    body: SkipBody | UnskipBody,
) -> TriggerRow:
    now = ctx.now()
    with project_write(ctx, scope, f"{verb} occurrences of trigger {scope.trigger_id}") as write:
        current = current_trigger(write.conn, scope)
        check_version(if_match, current.version)
        schedule = schedule_of(current)
        window = current.window
        before = {t for t in current.skipped_instants if t > now}
        if isinstance(body, SkipBody) and body.next is not None:
            coming = occurrences(
                schedule, now, body.next + len(before), window=window, skipped=frozenset(before)
            )
            named = [o.instant for o in coming if not o.skipped][: body.next]
        else:
            assert body.instants is not None
            named = _checked(schedule, window.holds, body.instants, now, before, verb)
        after = before | set(named) if verb == "skip" else before - set(named)
        if after == before and current.skipped == skipped_text(before):
            return get_trigger_of(ctx, scope)
        row = replace(
            current,
            skipped=skipped_text(after),
            version=current.version + 1,
            updated_at=to_db(now),
        )
        if not replace_trigger(write.conn, row, current.version):
            raise PreconditionFailed("The trigger changed meanwhile; nothing was changed.")
        write.message = f"{verb} trigger {current.id}: {', '.join(to_db(t) for t in named)}"
    return get_trigger_of(ctx, scope)


def _checked(
    schedule: Schedule,
    in_window: Callable[[datetime], bool],
    instants: list[datetime],
    now: datetime,
    skipped: set[datetime],
    verb: str,
) -> list[datetime]:
    """The instants, each a future fire time of the schedule (and, to unskip, a skipped one);
    one 422 names every one that is not."""
    errors, named = [], []
    for index, given in enumerate(instants):
        instant = utc(given)
        field = f"instants.{index}"
        if instant <= now:
            errors.append(FieldError(field, f"{to_db(instant)} is not in the future"))
        elif not is_fire_time(schedule, instant) or not in_window(instant):
            errors.append(FieldError(field, f"{to_db(instant)} is not a fire time of the schedule"))
        elif verb == "unskip" and instant not in skipped:
            errors.append(FieldError(field, f"{to_db(instant)} is not skipped"))
        else:
            named.append(instant)
    if errors:
        raise InvalidFields(errors)
    return named


def skip(ctx: ServiceContext, scope: Scope, if_match: Versions, body: SkipBody) -> TriggerRow:
    """Mark future occurrences not to fire: the instants named, or the next N."""
    return _change_skips(ctx, scope, if_match, "skip", body)


def unskip(ctx: ServiceContext, scope: Scope, if_match: Versions, body: UnskipBody) -> TriggerRow:
    """Let skipped occurrences fire again."""
    return _change_skips(ctx, scope, if_match, "unskip", body)


def backfill_instants(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Every fire instant in [start, end); InvalidFields when there are more than 1,000."""
    if schedule.run_at is not None:
        return [schedule.run_at] if start <= schedule.run_at < end else []
    assert schedule.cron_expression is not None
    found: list[datetime] = []
    after = start - timedelta(microseconds=1)
    for instant in iter_fire_times(schedule.cron_expression, schedule.cron_timezone, after):
        if instant >= end:
            break
        if len(found) == MAX_BACKFILL:
            raise invalid_field("end", f"the range holds more than {MAX_BACKFILL} fire instants")
        found.append(instant)
    return found


async def backfill(ctx: ServiceContext, scope: Scope, body: BackfillBody) -> Backfill:
    """Run every fire instant of [start, end) now, in order, each at most once ever."""
    now = ctx.now()
    start, end = utc(body.start), utc(body.end)
    errors = []
    if end > now:
        errors.append(FieldError("end", f"must not be after now ({to_db(now)})"))
    if start >= end:
        errors.append(FieldError("end", "must be after start"))
    if errors:
        raise InvalidFields(errors)
    trigger = await asyncio.to_thread(_trigger, ctx, scope)
    instants = backfill_instants(schedule_of(trigger), start, end)
    if ctx.temporal is None:
        raise Unavailable("Runs cannot be started: Temporal is not configured.")
    runs = [
        RunnerInput(
            tenant_id=scope.tenant_id,
            project_id=scope.project_id,
            agent_id=scope.agent_id,
            trigger_id=scope.trigger_id,
            scheduled_for=to_db(instant),
            kind="backfill",
            slot=f"backfill-{scheduled_slot(instant)}",
            trigger_version=trigger.version,
            steps=CURRENT_STEPS,
        )
        for instant in instants
    ]
    try:
        started = await start_backfill(ctx.temporal, ctx.session_factory, ctx.task_queue, runs)
    except LaunchFailed:
        raise Unavailable("The backfill could not be started; try again.") from None
    return Backfill(instants, started)


def _trigger(ctx: ServiceContext, scope: Scope) -> TriggerRow:
    with project_read(ctx, scope) as conn:
        row = current_trigger(conn, scope)
    if row is None:
        raise NotFound(f"Trigger {scope.trigger_id} not found.")
    return row


def preview(ctx: ServiceContext, scope: Scope, body: SchedulePreview) -> Preview:
    """The description and next instants of a schedule not yet saved, with the checks a save
    makes (the same field errors); nothing is written."""
    now = ctx.now()
    values = {
        "cron_expression": body.cron_expression,
        "run_at": to_db(body.run_at) if body.run_at is not None else None,
        "cron_timezone": body.cron_timezone,
        "start_at": to_db(body.start_at) if body.start_at is not None else None,
        "end_at": to_db(body.end_at) if body.end_at is not None else None,
        "jitter_seconds": body.jitter_seconds,
    }
    check_schedule(values, now=now, require_future_run_at=False)
    with project_read(ctx, scope):
        pass  # the project must exist, as for a create
    try:
        schedule = Schedule(body.cron_expression, body.cron_timezone, body.run_at)
    except InvalidSchedule as exc:
        raise invalid_field(exc.field, exc.message) from None
    key = jitter_key(scope.tenant_id, scope.project_id, body.trigger_id or "")
    found = occurrences(
        schedule,
        now,
        body.count,
        window=window_of(values),
        jitter_key=key,
        jitter_seconds=body.jitter_seconds,
    )
    description = describe_schedule(body.cron_expression, body.cron_timezone, body.run_at)
    return Preview(description, body.cron_timezone, found)
