"""A trigger's coming occurrences as users see them: inside its window, skipped ones listed and
marked, each with the instant it starts (its jitter applied). The `upcoming` preview and the
schedule preview use this; dispatch applies the same rules in `next_run.decide_due`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from manage_db.jitter import fire_at
from manage_db.next_run import UNBOUNDED, Schedule, Window, upcoming


@dataclass(frozen=True)
class Occurrence:
    instant: datetime
    skipped: bool
    fire_at: datetime


def occurrences(
    schedule: Schedule,
    after: datetime,
    count: int,
    *,
    window: Window = UNBOUNDED,
    skipped: frozenset[datetime] = frozenset(),
    jitter_key: str = "",
    jitter_seconds: int = 0,
) -> list[Occurrence]:
    """The next `count` occurrences after `after` (a one-time trigger has at most one)."""
    found = []
    for instant in upcoming(schedule, window.search_from(after), count):
        if not window.holds(instant):
            break
        found.append(
            Occurrence(instant, instant in skipped, fire_at(jitter_key, instant, jitter_seconds))
        )
    return found
