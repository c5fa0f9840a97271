"""Cron macros (`@daily`, ...) are accepted as written and fire as their five fields would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from manage_db.next_run import MACROS, InvalidSchedule, Schedule, upcoming, validate_cron


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize("macro", sorted(MACROS))
def test_every_classic_macro_is_accepted(macro: str) -> None:
    validate_cron(macro)


def test_daily_in_a_dst_zone_fires_at_local_midnight_across_the_change() -> None:
    schedule = Schedule(cron_expression="@daily", cron_timezone="Europe/Paris")
    # Paris leaves summer time on 2026-10-25: midnight is 22:00Z before, 23:00Z after.
    assert upcoming(schedule, _utc(2026, 10, 23, 12), 4) == [
        _utc(2026, 10, 23, 22),
        _utc(2026, 10, 24, 22),
        _utc(2026, 10, 25, 23),
        _utc(2026, 10, 26, 23),
    ]


def test_hourly_fires_in_both_copies_of_a_repeated_hour() -> None:
    schedule = Schedule(cron_expression="@hourly", cron_timezone="Europe/Paris")
    # 02:00-03:00 local happens twice on 2026-10-25: 00:00Z (summer) and 01:00Z (winter).
    assert upcoming(schedule, _utc(2026, 10, 24, 23, 30), 3) == [
        _utc(2026, 10, 25, 0),
        _utc(2026, 10, 25, 1),
        _utc(2026, 10, 25, 2),
    ]


def test_an_unknown_macro_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InvalidSchedule) as caught:
        validate_cron("@fortnightly")
    assert caught.value.field == "cron_expression"
    assert caught.value.message == (
        "'@fortnightly' is not a known macro; use one of @annually, @daily, @hourly, "
        "@midnight, @monthly, @weekly, @yearly"
    )
