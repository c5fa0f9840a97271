"""Jitter offsets are deterministic per (trigger, instant) and stay within their bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from manage_db.jitter import fire_at, jitter_offset, shortest_gap

_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_the_same_trigger_and_instant_always_get_the_same_offset() -> None:
    first = [
        jitter_offset("acme/demo/echo/t1", _NOON + timedelta(minutes=m), 30) for m in range(50)
    ]
    second = [
        jitter_offset("acme/demo/echo/t1", _NOON + timedelta(minutes=m), 30) for m in range(50)
    ]
    assert first == second


def test_offsets_stay_in_bounds_and_spread_out() -> None:
    offsets = [jitter_offset(f"acme/demo/echo/t{n}", _NOON, 60) for n in range(500)]
    assert min(offsets) >= 0
    assert max(offsets) <= 59
    assert len(set(offsets)) > 40


def test_no_jitter_is_no_offset() -> None:
    assert jitter_offset("acme/demo/echo/t1", _NOON, 0) == 0
    assert fire_at("acme/demo/echo/t1", _NOON, 0) == _NOON


def test_fire_at_adds_the_offset_to_the_nominal_instant() -> None:
    offset = jitter_offset("acme/demo/echo/t1", _NOON, 600)
    assert fire_at("acme/demo/echo/t1", _NOON, 600) == _NOON + timedelta(seconds=offset)


def test_shortest_gap_of_common_schedules() -> None:
    assert shortest_gap("* * * * *", "UTC", _NOON) == timedelta(minutes=1)
    assert shortest_gap("*/5 * * * *", "Europe/Paris", _NOON) == timedelta(minutes=5)
    assert shortest_gap("0 9,17 * * 1-5", "UTC", _NOON) == timedelta(hours=8)
    assert shortest_gap("0 0 * * *", "UTC", _NOON) == timedelta(days=1)
