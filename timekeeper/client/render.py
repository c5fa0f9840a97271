"""Output of the client commands: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Column = tuple[str, Callable[[dict[str, Any]], object]]


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    cells = [[_text(value(row)) for _, value in columns] for row in rows]
    headers = [name for name, _ in columns]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def fields(row: dict[str, Any]) -> str:
    """One resource as `key: value` lines, nested values as JSON."""
    width = max((len(key) for key in row), default=0)
    return "\n".join(f"{key.ljust(width)}  {_text(value)}" for key, value in row.items())


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def schedule_of(trigger: dict[str, Any]) -> str:
    """The schedule in plain words when the API gives them, else its cron or instant and zone."""
    described = trigger.get("schedule_description")
    if described:
        return str(described)
    zone = trigger.get("cron_timezone", "UTC")
    if trigger.get("cron_expression"):
        return f"{trigger['cron_expression']} ({zone})"
    return f"once at {trigger.get('run_at')} ({zone})"


def local_time(instant: str | None, zone: str) -> str:
    """`YYYY-MM-DD HH:MM zone (UTC instant)` for a UTC `YYYY-MM-DDTHH:MM:SSZ`."""
    if not instant:
        return "-"
    moment = datetime.strptime(instant, "%Y-%m-%dT%H:%M:%S%z")
    try:
        local = moment.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return instant
    return f"{local:%Y-%m-%d %H:%M} {zone} ({instant})"
