"""`next_run_at` math: the one place the API, the dispatcher and the audit ask "when next?".

croniter knows cron fields but not DST, so it runs over naive local wall-clock times and
zoneinfo maps each wall time to real instants, by the classic cron rule:
- hour field fixed (no `*` or `/`): each wall time fires once; a time skipped by spring-forward
  fires at the first valid instant after the gap, a repeated time at its first occurrence;
- hour field `*` or a step: every real instant whose local time matches fires, so both copies
  of a repeated hour fire and a skipped hour fires nothing.
With both copies of a repeated hour, instants are not monotone in wall time; candidates wait in
a small heap until no later wall time can map to an earlier instant.

Cadence comes from the last *scheduled* instant, never from "now", so it cannot drift.
All datetimes in and out are aware; outputs are UTC.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import islice
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadDateError, CroniterError, croniter

from manage_db.timestamps import utc

_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day-of-week", "0-7 or sun-sat"),
)
# Names zoneinfo resolves that are not a place: the host's own zone, tzdata internals.
_JUNK_ZONES = frozenset({"localtime", "posixrules", "Factory"})
# No zone's UTC offsets differ by more than this; bounds how far a fold can reach back.
_OFFSET_SPREAD_HOURS = 26
# decide_due counts missed occurrences one by one up to here, then extrapolates.
_COUNT_CAP = 256
# The nicknames classic cron accepts; stored as written, computed as their five fields.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class InvalidSchedule(ValueError):
    """A schedule the user must fix; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Schedule:
    """Exactly one trigger: a cron expression in a zone, or a one-time `run_at`."""

    cron_expression: str | None
    cron_timezone: str = "UTC"
    run_at: datetime | None = None

    def __post_init__(self) -> None:
        if (self.cron_expression is None) == (self.run_at is None):
            field = "cron_expression" if self.run_at is None else "run_at"
            raise InvalidSchedule(field, "exactly one of cron_expression and run_at is required")
        validate_timezone(self.cron_timezone)
        if self.cron_expression is not None:
            validate_cron(self.cron_expression)
        elif self.run_at is not None:
            if self.run_at.tzinfo is None or self.run_at.utcoffset() is None:
                raise InvalidSchedule("run_at", "must include a timezone (UTC offset)")
            object.__setattr__(self, "run_at", self.run_at.astimezone(UTC))


BEYOND_GRACE = "beyond_grace"
COALESCED = "coalesced"
SKIPPED = "skipped"  # marked by a user not to fire


@dataclass(frozen=True)
class Window:
    """`start_at` (inclusive) .. `end_at` (exclusive); None is unbounded on that side."""

    start: datetime | None = None
    end: datetime | None = None

    def holds(self, instant: datetime) -> bool:
        return (self.start is None or instant >= self.start) and (
            self.end is None or instant < self.end
        )

    def search_from(self, after: datetime) -> datetime:
        """Where to look for occurrences "after `after`": no earlier than `start` itself."""
        after = utc(after)
        if self.start is not None and self.start > after:
            return self.start - timedelta(microseconds=1)
        return after


UNBOUNDED = Window()


@dataclass(frozen=True)
class Missed:
    """An occurrence that is not fired, and why: older than the misfire grace, or coalesced
    into a later one of the same dispatch."""

    instant: datetime
    reason: str  # BEYOND_GRACE | COALESCED


@dataclass(frozen=True)
class DueDecision:
    """What one dispatch of a due trigger does. `missed_at` lists the occurrences not fired,
    oldest first, each one up to a few hundred; `missed` counts all of them."""

    fire_at: datetime | None
    missed: int
    next_run_at: datetime | None
    missed_at: tuple[Missed, ...] = ()
    # Every occurrence to fire, oldest first: `fire_at` alone, or with `catchup="all"` each
    # occurrence within the grace.
    fires: tuple[datetime, ...] = ()


def validate_cron(expr: str) -> None:
    """Five fields (or a macro such as `@daily`), values in range, fires at least once;
    InvalidSchedule otherwise."""
    _hour_is_wildcard(expr)


def cron_fields(expr: str) -> str:
    """The five fields `expr` stands for: a macro's expansion, or `expr` with spaces folded."""
    text = expr.strip()
    return MACROS.get(text.lower(), " ".join(text.split()))


def validate_timezone(name: str) -> ZoneInfo:
    """The IANA zone `name`; InvalidSchedule("cron_timezone", ...) for anything else."""
    if not isinstance(name, str) or name in _JUNK_ZONES or name not in _zone_names():
        raise InvalidSchedule("cron_timezone", f"unknown IANA timezone {name!r}")
    return ZoneInfo(name)


def iter_fire_times(cron_expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after `after`, ascending, without duplicates (UTC)."""
    wildcard = _hour_is_wildcard(cron_expression)
    zone = validate_timezone(timezone)
    start = utc(after).replace(tzinfo=None)
    return _fire_times(cron_fields(cron_expression), zone, wildcard, start)


def next_fire_time(cron_expression: str, timezone: str, after: datetime) -> datetime:
    for instant in iter_fire_times(cron_expression, timezone, after):
        return instant
    raise InvalidSchedule("cron_expression", f"{cron_expression!r} never fires after {after}")


def is_fire_time(schedule: Schedule, instant: datetime) -> bool:
    """Whether the schedule fires at exactly `instant`."""
    if schedule.run_at is not None:
        return schedule.run_at == instant
    assert schedule.cron_expression is not None
    after = instant - timedelta(microseconds=1)
    return next_fire_time(schedule.cron_expression, schedule.cron_timezone, after) == instant


def upcoming(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `after` (a one-time trigger has at most one)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    after = utc(after)
    if schedule.run_at is not None:
        return [schedule.run_at] if schedule.run_at > after and count else []
    assert schedule.cron_expression is not None
    times = iter_fire_times(schedule.cron_expression, schedule.cron_timezone, after)
    return list(islice(times, count))


def initial_next_run(
    schedule: Schedule, now: datetime, window: Window = UNBOUNDED
) -> datetime | None:
    """`next_run_at` on create, enable or schedule change: the first fire time after `now`
    inside the window; None when there is none (the window has closed, or the one-time
    instant lies outside it)."""
    if schedule.run_at is not None:
        return schedule.run_at if window.holds(schedule.run_at) else None
    assert schedule.cron_expression is not None
    after = window.search_from(now)
    instant = next_fire_time(schedule.cron_expression, schedule.cron_timezone, after)
    return instant if window.holds(instant) else None


def decide_due(
    schedule: Schedule,
    next_run_at: datetime,
    as_of: datetime,
    misfire_grace_seconds: int,
    catchup: str = "latest",
    end_at: datetime | None = None,
    skipped: frozenset[datetime] = frozenset(),
) -> DueDecision:
    """Dispatch of a trigger whose `next_run_at <= as_of`.

    Occurrences are `next_run_at` and every later fire time <= `as_of`. Those older than the
    grace are skipped, the latest of the rest fires (coalescing the others), and `next_run_at`
    moves to the first fire time after `as_of` (None once `end_at` is reached). Instants in
    `skipped` are neither fired nor coalesced: each is listed as missed with reason SKIPPED (a
    skipped instant stays a position of the schedule, so it is recorded when reached). `missed`
    is exact up to a few hundred occurrences; past that (a long outage) it is extrapolated from
    the cadence counted so far, which is exact for evenly spaced schedules, and only the last
    stretch before `as_of` is iterated.
    """
    next_run_at, as_of = utc(next_run_at), utc(as_of)
    if misfire_grace_seconds < 0:
        raise ValueError(f"misfire_grace_seconds must be >= 0, got {misfire_grace_seconds}")
    if next_run_at > as_of:
        raise ValueError(f"not due: next_run_at {next_run_at} is after as_of {as_of}")
    cutoff = as_of - timedelta(seconds=misfire_grace_seconds)
    if schedule.run_at is not None:
        if schedule.run_at >= cutoff:
            return DueDecision(schedule.run_at, 0, None, fires=(schedule.run_at,))
        return DueDecision(None, 1, None, (Missed(schedule.run_at, BEYOND_GRACE),))
    assert schedule.cron_expression is not None
    expr, zone = schedule.cron_expression, schedule.cron_timezone

    seen = 1
    listed = [next_run_at]
    latest = next_run_at if next_run_at >= cutoff else None
    reached = next_run_at
    following: datetime | None = None
    for instant in iter_fire_times(expr, zone, next_run_at):
        if instant > as_of:
            following = instant
            break
        seen, reached = seen + 1, instant
        listed.append(instant)
        if instant >= cutoff:
            latest = instant
        if seen >= _COUNT_CAP:
            lo = max(reached, cutoff - timedelta(microseconds=1))
            tail_latest, following = _last_and_next(expr, zone, lo, as_of)
            latest = tail_latest or latest
            seen = 1 + (seen - 1) * (as_of - next_run_at) // (reached - next_run_at)
            break
    passed_over: tuple[Missed, ...] = ()
    if end_at is not None or skipped:
        kept = [i for i in listed if (end_at is None or i < end_at) and i not in skipped]
        passed_over = tuple(Missed(i, SKIPPED) for i in listed if i in skipped)
        seen -= len(listed) - len(kept)
        listed = kept
        if latest is not None and (latest in skipped or (end_at is not None and latest >= end_at)):
            latest = max((i for i in listed if i >= cutoff), default=None)
        if following is not None and end_at is not None and following >= end_at:
            following = None
    if catchup == "all":
        fires = tuple(instant for instant in listed if instant >= cutoff)
        if latest is not None and latest not in fires:
            fires += (latest,)
        missed_at = tuple(Missed(instant, BEYOND_GRACE) for instant in listed if instant < cutoff)
        missed = seen - len(fires)
    else:
        fires = (latest,) if latest is not None else ()
        missed_at = tuple(
            Missed(instant, BEYOND_GRACE if instant < cutoff else COALESCED)
            for instant in listed
            if instant != latest
        )
        missed = seen - (latest is not None)
    if passed_over:
        missed_at = tuple(sorted(missed_at + passed_over, key=lambda m: m.instant))
    return DueDecision(latest, missed, following, missed_at, fires)


def local_time(dt: datetime, timezone: str) -> datetime:
    """`dt` as wall-clock time in `timezone` (previews, templates)."""
    return utc(dt).astimezone(validate_timezone(timezone))


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=4096)
def _hour_is_wildcard(expr: str) -> bool:
    """Validates `expr`; True when its hour field is `*` or a step (fires every real instant)."""
    if not isinstance(expr, str):
        raise InvalidSchedule("cron_expression", "must be a string")
    if expr.strip().startswith("@") and expr.strip().lower() not in MACROS:
        raise InvalidSchedule(
            "cron_expression",
            f"{expr!r} is not a known macro; use one of {', '.join(sorted(MACROS))}",
        )
    fields = cron_fields(expr).split()
    if len(fields) != 5:
        raise InvalidSchedule(
            "cron_expression",
            f"{expr!r} has {len(fields)} fields; expected 5: minute hour day-of-month month"
            " day-of-week (no seconds or year field)",
        )
    for index, ((name, allowed), field) in enumerate(zip(_FIELDS, fields, strict=True)):
        if any(item[:1].upper() in ("R", "H") for item in field.split(",")):
            raise InvalidSchedule("cron_expression", f"{name} field {field!r}: R/H not supported")
        alone = " ".join(field if i == index else "*" for i in range(5))
        if not _croniter_accepts(alone):
            raise InvalidSchedule(
                "cron_expression", f"{name} field {field!r} is invalid (allowed {allowed})"
            )
    normalized = " ".join(fields)
    if not _croniter_accepts(normalized):
        raise InvalidSchedule("cron_expression", f"{expr!r} is not a valid cron expression")
    try:
        croniter(normalized, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise InvalidSchedule("cron_expression", f"{expr!r} never fires") from None
    return "*" in fields[1] or "/" in fields[1]


def _croniter_accepts(expr: str) -> bool:
    try:
        croniter(expr, datetime(2000, 1, 1))
    except (CroniterError, ValueError, LookupError, TypeError):
        return False
    return True


def _last_and_next(
    expr: str, zone: str, lo: datetime, as_of: datetime
) -> tuple[datetime | None, datetime | None]:
    """The last fire time in (lo, as_of] and the first after as_of.

    Looks back from `as_of` in doubling windows, so a long outage costs about as much as the
    stretch since the last occurrence, not the whole outage.
    """
    width = timedelta(hours=1)
    while True:
        start = max(lo, as_of - width)
        latest: datetime | None = None
        following: datetime | None = None
        for instant in iter_fire_times(expr, zone, start):
            if instant > as_of:
                following = instant
                break
            latest = instant
        if latest is not None or start == lo:
            return latest, following
        width *= 2


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    """UTC offset of `zone` at the naive-UTC `instant`."""
    offset = instant.replace(tzinfo=UTC).astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _wall_offset(wall: datetime, zone: ZoneInfo, fold: int) -> timedelta:
    """UTC offset of the naive local `wall` time in `zone`, for the given fold."""
    offset = wall.replace(tzinfo=zone, fold=fold).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _gap_end(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The transition instant in (before, after] that ends a gap (naive UTC, to the second)."""
    old = _offset(zone, before)
    lo, hi = 0, int((after - before).total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(zone, before + timedelta(seconds=mid)) == old:
            lo = mid
        else:
            hi = mid
    return before + timedelta(seconds=hi)


def _fire_times(expr: str, zone: ZoneInfo, wildcard: bool, after: datetime) -> Iterator[datetime]:
    # A wall time w can map to an instant after `after` only if w > after + (smallest offset
    # the zone takes in the next day), so start there rather than at the wall time of `after`.
    spread = range(_OFFSET_SPREAD_HOURS + 1)
    lowest = min(_offset(zone, after + timedelta(hours=h)) for h in spread)
    walls = croniter(expr, (after + lowest).replace(microsecond=0))
    pending: list[datetime] = []
    last = after
    while True:
        try:
            wall = walls.get_next(datetime)
        except CroniterBadDateError:
            floor = datetime.max
        else:
            first = wall - _wall_offset(wall, zone, 0)
            second = wall - _wall_offset(wall, zone, 1)
            floor = first  # the earliest instant any wall time >= this one can map to
            if first == second:
                heapq.heappush(pending, first)
            elif first < second:  # repeated by fall-back: `first` is the earlier copy
                heapq.heappush(pending, first)
                if wildcard:
                    heapq.heappush(pending, second)
            elif wildcard:  # skipped by spring-forward: nothing fires in the gap
                continue
            else:  # skipped, fixed hour: fire at the first valid instant after the gap
                floor = _gap_end(zone, second, first)
                heapq.heappush(pending, floor)
        while pending and pending[0] <= floor:
            instant = heapq.heappop(pending)
            if instant > last:
                last = instant
                yield instant.replace(tzinfo=UTC)
        if floor == datetime.max:
            return
