"""A schedule in plain words, with its timezone wherever the zone changes when it fires."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from manage_db.describe import describe_schedule


@pytest.mark.parametrize(
    ("expression", "zone", "expected"),
    [
        ("0 9 * * 1-5", "Europe/Berlin", "At 09:00, Monday through Friday (Europe/Berlin)"),
        ("*/5 * * * *", "Europe/Berlin", "Every 5 minutes"),
        ("* * * * *", "Asia/Kathmandu", "Every minute"),
        ("*/10 * * * *", "Asia/Kathmandu", "Every 10 minutes (Asia/Kathmandu)"),
        ("0 * * * *", "Asia/Kolkata", "Every hour (Asia/Kolkata)"),
        ("0 9,17 * * 1-5", "UTC", "At 09:00 and 17:00, Monday through Friday (UTC)"),
        ("30 2 * * *", "America/New_York", "At 02:30 (America/New_York)"),
        ("15 14 1 * *", "UTC", "At 14:15, on day 1 of the month (UTC)"),
        ("@daily", "Europe/Paris", "At 00:00 (Europe/Paris)"),
        ("@hourly", "UTC", "Every hour (UTC)"),
        ("@weekly", "UTC", "At 00:00, only on Sunday (UTC)"),
        ("@yearly", "UTC", "At 00:00, on day 1 of the month, only in January (UTC)"),
    ],
)
def test_cron_schedules_read_as_plain_english(expression: str, zone: str, expected: str) -> None:
    assert describe_schedule(expression, zone, None) == expected


def test_a_one_time_trigger_reads_in_its_own_timezone() -> None:
    run_at = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
    assert describe_schedule(None, "Europe/Paris", run_at) == (
        "Once, at 2027-01-01 09:00 (Europe/Paris)"
    )


def test_a_schedule_needs_one_of_cron_and_run_at() -> None:
    with pytest.raises(ValueError, match="cron_expression or run_at"):
        describe_schedule(None, "UTC", None)
