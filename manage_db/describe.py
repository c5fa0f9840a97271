"""Schedules in plain English, for people reading a trigger list: `At 09:00, Monday through
Friday (Europe/Berlin)`, `Every 5 minutes`, `Once, at 2027-01-01 09:00 (Europe/Paris)`.

cron-descriptor words the five fields; we add the timezone the fields are read in, except for
schedules that fire at the same instants in every zone (every minute, or a step of minutes that
divides 15: every zone's offset is a multiple of 15 minutes).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from cron_descriptor import ExpressionDescriptor, Options

from manage_db.next_run import cron_fields
from manage_db.timestamps import from_db
from manage_db.triggers import TriggerRow

_ZONE_FREE_MINUTES = frozenset({"*", "*/1", "*/3", "*/5", "*/15"})


def describe_schedule(
    cron_expression: str | None, cron_timezone: str, run_at: datetime | None
) -> str:
    """One trigger's schedule; `run_at` (aware) for a one-time trigger, else the cron fields."""
    if run_at is not None:
        local = run_at.astimezone(ZoneInfo(cron_timezone))
        return f"Once, at {local:%Y-%m-%d %H:%M} ({cron_timezone})"
    if cron_expression is None:
        raise ValueError("a schedule needs cron_expression or run_at")
    fields = cron_fields(cron_expression)
    text = _describe_cron(fields)
    minute, *rest = fields.split()
    if minute in _ZONE_FREE_MINUTES and all(field == "*" for field in rest):
        return text
    return f"{text} ({cron_timezone})"


@lru_cache(maxsize=4096)
def _describe_cron(fields: str) -> str:
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    return str(ExpressionDescriptor(fields, options).get_description())


def describe_trigger(row: TriggerRow) -> str:
    """A stored definition the rules no longer accept still gets words: its raw schedule."""
    try:
        return describe_schedule(row.cron_expression, row.cron_timezone, from_db(row.run_at))
    except (ValueError, LookupError):
        return f"{row.cron_expression or row.run_at} ({row.cron_timezone})"
