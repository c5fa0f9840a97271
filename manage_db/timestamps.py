"""UTC timestamps as the stores, the API and workflow ids spell them, and the one wall clock.

doltlite keeps instants as text `YYYY-MM-DDTHH:MM:SSZ`, which sorts as time only if every
writer uses exactly that form in UTC; every timestamp the API and the audit emit has it too.
Workflow ids use the compact `YYYYMMDDTHHMMSSZ`. Naive datetimes are refused everywhere: a naive
value is a bug waiting for the first non-UTC host. Sub-second precision is dropped (schedules
are whole seconds).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

_DB_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SLOT_FORMAT = "%Y%m%dT%H%M%SZ"


def utc_now() -> datetime:
    """The wall clock, aware and in UTC; code that must be testable takes a clock instead."""
    return datetime.now(UTC)


def utc(dt: datetime) -> datetime:
    """The same instant in UTC; ValueError for a naive datetime."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()} (a timezone is required)")
    return dt.astimezone(UTC)


def to_db(dt: datetime) -> str:
    """Aware datetime -> `YYYY-MM-DDTHH:MM:SSZ` (UTC, seconds)."""
    return utc(dt).strftime(_DB_FORMAT)


def from_db(text: str | None) -> datetime | None:
    """Inverse of `to_db`: aware UTC, None for None; ValueError for junk or naive text."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a UTC timestamp: {text!r}") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {text!r}")
    return parsed.astimezone(UTC)


def to_slot(dt: datetime) -> str:
    """Aware datetime -> `YYYYMMDDTHHMMSSZ` (UTC), the scheduled_for slot of a workflow id."""
    return utc(dt).strftime(_SLOT_FORMAT)


def instants_of(texts: Iterable[str]) -> frozenset[datetime]:
    """Stored instants (`to_db` text) as a set of aware datetimes; ValueError for junk."""
    return frozenset(moment for text in texts if (moment := from_db(text)) is not None)
