"""Jitter: a per-occurrence delay that spreads triggers sharing a minute, identical wherever it
is computed (a retried dispatch, a second scheduler, the `upcoming` preview), because it is a
hash of the trigger and the instant rather than a random draw.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from itertools import islice, pairwise

from manage_db.next_run import iter_fire_times
from manage_db.timestamps import to_db

# How many fire times `shortest_gap` looks at: enough to meet every gap a cron expression has
# within a year of minutes-to-days schedules, cheap enough for a save-time check.
_GAP_SAMPLE = 2000


def jitter_key(tenant_id: str, project_id: str, trigger_id: str) -> str:
    """What an offset is keyed on, with the instant."""
    return f"{tenant_id}/{project_id}/{trigger_id}"


def jitter_offset(trigger_key: str, instant: datetime, jitter_seconds: int) -> int:
    """Whole seconds in [0, jitter_seconds) for this trigger and nominal instant."""
    if jitter_seconds <= 0:
        return 0
    digest = hashlib.sha256(f"{trigger_key}|{to_db(instant)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % jitter_seconds


def fire_at(trigger_key: str, instant: datetime, jitter_seconds: int) -> datetime:
    """When the occurrence nominally at `instant` is actually started."""
    return instant + timedelta(seconds=jitter_offset(trigger_key, instant, jitter_seconds))


def shortest_gap(cron_expression: str, timezone: str, after: datetime) -> timedelta:
    """The shortest time between two consecutive fire times seen from `after` on.

    Jitter must stay below it, so that a jittered occurrence never starts after the next one.
    """
    times = list(islice(iter_fire_times(cron_expression, timezone, after), _GAP_SAMPLE))
    return min((b - a for a, b in pairwise(times)), default=timedelta.max)
