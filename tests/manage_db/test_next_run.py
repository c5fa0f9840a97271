"""`next_run_at` rules, pinned to exact UTC instants.

2026 transitions used below: America/New_York springs forward 2026-03-08 02:00 EST -> 03:00 EDT
(07:00Z) and falls back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z); Europe/London 2026-03-29
01:00 GMT -> 02:00 BST (01:00Z) and 2026-10-25 02:00 BST -> 01:00 GMT (01:00Z);
Australia/Lord_Howe (+10:30 standard, +11:00 summer) 2026-04-05 02:00 -> 01:30 (15:00Z the day
before) and 2026-10-04 02:00 -> 02:30 (15:30Z the day before).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise

import pytest

from manage_db.next_run import (
    BEYOND_GRACE,
    COALESCED,
    DueDecision,
    InvalidSchedule,
    Missed,
    Schedule,
    decide_due,
    initial_next_run,
    iter_fire_times,
    local_time,
    next_fire_time,
    upcoming,
    validate_cron,
    validate_timezone,
)
from manage_db.timestamps import from_db, to_db, to_slot

NEW_YORK = "America/New_York"


def at(text: str) -> datetime:
    """`2026-03-07T07:30Z` -> aware UTC datetime."""
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def fires(expr: str, zone: str, after: str, count: int) -> list[datetime]:
    return upcoming(Schedule(expr, zone), at(after), count)


def ats(*texts: str) -> list[datetime]:
    return [at(text) for text in texts]


# --- fixed hour field: each wall-clock time fires once ---


def test_fixed_time_skipped_by_spring_forward_fires_at_end_of_gap() -> None:
    # 02:30 does not exist on 2026-03-08 in New York; it fires at 03:00 EDT.
    assert fires("30 2 * * *", NEW_YORK, "2026-03-07T00:00Z", 3) == ats(
        "2026-03-07T07:30Z", "2026-03-08T07:00Z", "2026-03-09T06:30Z"
    )


def test_several_skipped_times_collapse_into_one_fire() -> None:
    assert fires("0,20,40 2 * * *", NEW_YORK, "2026-03-08T06:30Z", 3) == ats(
        "2026-03-08T07:00Z", "2026-03-09T06:00Z", "2026-03-09T06:20Z"
    )


def test_fixed_time_repeated_by_fall_back_fires_at_first_occurrence_only() -> None:
    assert fires("30 1 * * *", NEW_YORK, "2026-10-31T12:00Z", 2) == ats(
        "2026-11-01T05:30Z", "2026-11-02T06:30Z"
    )


def test_fixed_time_already_fired_in_first_copy_does_not_fire_in_second() -> None:
    # 05:45Z is 01:45 EDT, after the first 01:30; the second 01:30 (06:30Z) is not a fire time.
    assert next_fire_time("30 1 * * *", NEW_YORK, at("2026-11-01T05:45Z")) == at(
        "2026-11-02T06:30Z"
    )


def test_hour_range_is_fixed_and_fires_each_wall_time_once_on_fall_back() -> None:
    assert fires("0 1-3 * * *", NEW_YORK, "2026-11-01T00:00Z", 4) == ats(
        "2026-11-01T05:00Z", "2026-11-01T07:00Z", "2026-11-01T08:00Z", "2026-11-02T06:00Z"
    )


def test_london_skipped_and_repeated_half_past_one() -> None:
    assert fires("30 1 * * *", "Europe/London", "2026-03-28T12:00Z", 2) == ats(
        "2026-03-29T01:00Z", "2026-03-30T00:30Z"
    )
    assert fires("30 1 * * *", "Europe/London", "2026-10-24T12:00Z", 2) == ats(
        "2026-10-25T00:30Z", "2026-10-26T01:30Z"
    )


def test_lord_howe_half_hour_gap_fires_at_half_past_two() -> None:
    # 02:15 is skipped on 2026-10-04; the first valid instant is 02:30 +11:00 = 15:30Z.
    assert fires("15 2 * * *", "Australia/Lord_Howe", "2026-10-02T12:00Z", 3) == ats(
        "2026-10-02T15:45Z", "2026-10-03T15:30Z", "2026-10-04T15:15Z"
    )


def test_lord_howe_half_hour_fold_fires_once() -> None:
    # 01:45 happens at 14:45Z (+11:00) and again at 15:15Z (+10:30) on 2026-04-05.
    assert fires("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00Z", 2) == ats(
        "2026-04-04T14:45Z", "2026-04-05T15:15Z"
    )


# --- hour field `*` or step: every real instant whose local time matches ---


def test_hourly_fires_in_both_copies_of_repeated_hour() -> None:
    assert fires("0 * * * *", NEW_YORK, "2026-11-01T03:30Z", 5) == ats(
        "2026-11-01T04:00Z",
        "2026-11-01T05:00Z",
        "2026-11-01T06:00Z",
        "2026-11-01T07:00Z",
        "2026-11-01T08:00Z",
    )


def test_hourly_fires_nothing_in_skipped_hour() -> None:
    assert fires("0 * * * *", NEW_YORK, "2026-03-08T05:30Z", 3) == ats(
        "2026-03-08T06:00Z", "2026-03-08T07:00Z", "2026-03-08T08:00Z"
    )


def test_every_20_minutes_through_repeated_hour() -> None:
    assert fires("*/20 * * * *", NEW_YORK, "2026-11-01T04:50Z", 10) == ats(
        "2026-11-01T05:00Z",
        "2026-11-01T05:20Z",
        "2026-11-01T05:40Z",
        "2026-11-01T06:00Z",
        "2026-11-01T06:20Z",
        "2026-11-01T06:40Z",
        "2026-11-01T07:00Z",
        "2026-11-01T07:20Z",
        "2026-11-01T07:40Z",
        "2026-11-01T08:00Z",
    )


def test_from_inside_first_copy_the_second_copy_still_fires() -> None:
    # 05:50Z is 01:50 EDT; 01:00 EST (06:00Z) is later in real time though earlier on the clock.
    assert fires("*/20 * * * *", NEW_YORK, "2026-11-01T05:50Z", 2) == ats(
        "2026-11-01T06:00Z", "2026-11-01T06:20Z"
    )


# --- plain UTC ---


def test_every_five_minutes_fires_288_times_a_day() -> None:
    times = fires("*/5 * * * *", "UTC", "2026-05-04T23:59:59Z", 289)
    in_day = [t for t in times if t < at("2026-05-06T00:00Z")]
    assert len(in_day) == 288
    assert (in_day[0], in_day[-1], times[-1]) == (
        at("2026-05-05T00:00Z"),
        at("2026-05-05T23:55Z"),
        at("2026-05-06T00:00Z"),
    )


def test_leap_day_fires_only_in_leap_years() -> None:
    assert fires("0 0 29 2 *", "UTC", "2026-03-01T00:00Z", 2) == ats(
        "2028-02-29T00:00Z", "2032-02-29T00:00Z"
    )


def test_fire_times_are_strictly_after_the_given_instant() -> None:
    assert next_fire_time("*/5 * * * *", "UTC", at("2026-05-05T12:05Z")) == at("2026-05-05T12:10Z")


def test_thousand_minutes_are_consecutive() -> None:
    times = fires("* * * * *", NEW_YORK, "2026-01-01T00:00Z", 1000)
    assert len(times) == 1000
    assert (times[0], times[-1]) == (at("2026-01-01T00:01Z"), at("2026-01-01T16:40Z"))
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(times))


def test_iterator_keeps_going() -> None:
    times = list(islice(iter_fire_times("0 12 1 * *", "UTC", at("2026-01-01T00:00Z")), 24))
    assert times[-1] == at("2027-12-01T12:00Z")


# --- dispatch: no drift, misfire grace, coalescing ---


def test_late_tick_fires_the_scheduled_instant_and_cadence_does_not_drift() -> None:
    schedule = Schedule("*/5 * * * *")
    next_run = at("2026-05-05T12:00Z")
    fired = []
    for _ in range(3):
        decision = decide_due(schedule, next_run, next_run + timedelta(seconds=37), 300)
        fired.append(decision.fire_at)
        assert decision.missed == 0
        assert decision.next_run_at is not None
        next_run = decision.next_run_at
    assert fired == ats("2026-05-05T12:00Z", "2026-05-05T12:05Z", "2026-05-05T12:10Z")
    assert next_run == at("2026-05-05T12:15Z")


def test_outage_within_grace_coalesces_to_latest_occurrence() -> None:
    decision = decide_due(
        Schedule("*/5 * * * *"), at("2026-05-05T12:00Z"), at("2026-05-05T15:02:30Z"), 4 * 3600
    )
    # 12:00..15:00 is 37 occurrences: 15:00 fires, 36 are coalesced into it.
    assert _core(decision) == (at("2026-05-05T15:00Z"), 36, at("2026-05-05T15:05Z"))


def test_outage_beyond_grace_fires_nothing_and_moves_on() -> None:
    decision = decide_due(
        Schedule("*/5 * * * *"), at("2026-05-05T12:00Z"), at("2026-05-05T15:02:30Z"), 60
    )
    assert _core(decision) == (None, 37, at("2026-05-05T15:05Z"))


@pytest.mark.timeout(10)  # loose guard: counting a year of minutes one by one takes ~40 s
def test_year_long_outage_of_minutely_trigger() -> None:
    decision = decide_due(
        Schedule("* * * * *"), at("2025-01-01T00:00Z"), at("2026-01-01T00:00:30Z"), 3600
    )
    assert _core(decision) == (at("2026-01-01T00:00Z"), 525_600, at("2026-01-01T00:01Z"))


def test_long_outage_of_sparse_trigger_with_grace_before_last_occurrence() -> None:
    decision = decide_due(
        Schedule("0 0 1 1 *"), at("2000-01-01T00:00Z"), at("2026-01-01T00:00:30Z"), 10
    )
    assert _core(decision) == (None, 27, at("2027-01-01T00:00Z"))


def test_long_outage_fires_last_occurrence_within_grace_far_before_as_of() -> None:
    # 324 Mondays from 2020-01-06 to 2026-03-16; the last one is 4 days before as_of.
    decision = decide_due(
        Schedule("0 0 * * 1"), at("2020-01-06T00:00Z"), at("2026-03-20T00:00Z"), 10 * 86400
    )
    assert _core(decision) == (at("2026-03-16T00:00Z"), 323, at("2026-03-23T00:00Z"))


def test_outage_across_fall_back_counts_both_copies_of_the_hour() -> None:
    decision = decide_due(
        Schedule("0 * * * *", NEW_YORK), at("2026-11-01T04:00Z"), at("2026-11-01T07:00:05Z"), 3600
    )
    assert _core(decision) == (at("2026-11-01T07:00Z"), 3, at("2026-11-01T08:00Z"))


def _core(decision: DueDecision) -> tuple[datetime | None, int, datetime | None]:
    return decision.fire_at, decision.missed, decision.next_run_at


def test_every_occurrence_not_fired_is_listed_with_its_reason() -> None:
    decision = decide_due(
        Schedule("*/5 * * * *"), at("2026-05-05T12:00Z"), at("2026-05-05T12:16Z"), 600
    )
    assert decision == DueDecision(
        at("2026-05-05T12:15Z"),
        3,
        at("2026-05-05T12:20Z"),
        (
            Missed(at("2026-05-05T12:00Z"), BEYOND_GRACE),
            Missed(at("2026-05-05T12:05Z"), BEYOND_GRACE),
            Missed(at("2026-05-05T12:10Z"), COALESCED),
        ),
        (at("2026-05-05T12:15Z"),),
    )


def test_catchup_all_fires_every_occurrence_within_the_grace_in_order() -> None:
    decision = decide_due(
        Schedule("*/5 * * * *"), at("2026-05-05T12:00Z"), at("2026-05-05T12:16Z"), 600, "all"
    )
    assert decision == DueDecision(
        at("2026-05-05T12:15Z"),
        2,
        at("2026-05-05T12:20Z"),
        (
            Missed(at("2026-05-05T12:00Z"), BEYOND_GRACE),
            Missed(at("2026-05-05T12:05Z"), BEYOND_GRACE),
        ),
        (at("2026-05-05T12:10Z"), at("2026-05-05T12:15Z")),
    )


def test_one_time_trigger_fires_within_grace_only() -> None:
    schedule = Schedule(None, run_at=at("2026-05-05T12:00Z"))
    run_at = at("2026-05-05T12:00Z")
    assert decide_due(schedule, run_at, at("2026-05-05T12:00:40Z"), 60) == DueDecision(
        run_at, 0, None, fires=(run_at,)
    )
    assert decide_due(schedule, run_at, at("2026-05-05T12:01:01Z"), 60) == DueDecision(
        None, 1, None, (Missed(run_at, BEYOND_GRACE),)
    )


def test_not_due_trigger_is_refused() -> None:
    with pytest.raises(ValueError, match="not due"):
        decide_due(Schedule("* * * * *"), at("2026-05-05T12:01Z"), at("2026-05-05T12:00Z"), 60)


# --- create, previews, one-time ---


def test_initial_next_run_is_first_fire_time_after_now() -> None:
    now = at("2026-05-05T12:03:10Z")
    assert initial_next_run(Schedule("*/5 * * * *"), now) == at("2026-05-05T12:05Z")
    assert initial_next_run(Schedule("0 9 * * *", NEW_YORK), now) == at("2026-05-05T13:00Z")
    one_time = Schedule(None, run_at=at("2026-06-01T08:00Z"))
    assert initial_next_run(one_time, now) == at("2026-06-01T08:00Z")


def test_one_time_upcoming_is_run_at_until_it_passes() -> None:
    schedule = Schedule(None, run_at=datetime.fromisoformat("2026-06-01T10:00+02:00"))
    assert upcoming(schedule, at("2026-05-05T00:00Z"), 5) == ats("2026-06-01T08:00Z")
    assert upcoming(schedule, at("2026-06-01T08:00Z"), 5) == []


def test_local_time_shows_wall_clock() -> None:
    assert local_time(at("2026-03-08T07:00Z"), NEW_YORK).isoformat() == "2026-03-08T03:00:00-04:00"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        next_fire_time("* * * * *", "UTC", datetime(2026, 5, 5, 12, 0))
    with pytest.raises(InvalidSchedule) as caught:
        Schedule(None, run_at=datetime(2026, 5, 5, 12, 0))
    assert caught.value.field == "run_at"


# --- validation ---


@pytest.mark.parametrize(
    "expr",
    [
        "* * * * * *",
        "0 0 * * * 2026",
        "* * * *",
        "61 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "*/0 * * * *",
        "",
        "a b c d e",
        "@fortnightly",
        "R * * * *",
        "0 0 30 2 *",
    ],
)
def test_bad_cron_expressions_are_rejected(expr: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        validate_cron(expr)
    assert caught.value.field == "cron_expression"
    assert caught.value.message


def test_bad_cron_message_names_the_field() -> None:
    with pytest.raises(InvalidSchedule, match="hour field '24' is invalid"):
        validate_cron("0 24 * * *")


@pytest.mark.parametrize(
    "expr", ["0 9,17 * * 1-5", "0 0 * jan-mar mon-fri", "* * * * 7", "0 0 L * *", " 5  4 * * * "]
)
def test_good_cron_expressions_are_accepted(expr: str) -> None:
    validate_cron(expr)


@pytest.mark.parametrize("zone", ["", "local", "localtime", "Mars/Olympus", "America", " UTC"])
def test_bad_timezones_are_rejected(zone: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        validate_timezone(zone)
    assert caught.value.field == "cron_timezone"
    with pytest.raises(InvalidSchedule):
        Schedule("* * * * *", zone)


def test_schedule_needs_exactly_one_trigger() -> None:
    with pytest.raises(InvalidSchedule) as neither:
        Schedule(None)
    assert neither.value.field == "cron_expression"
    with pytest.raises(InvalidSchedule) as both:
        Schedule("* * * * *", run_at=at("2026-05-05T12:00Z"))
    assert both.value.field == "run_at"


# --- timestamps ---


def test_db_text_round_trips_in_utc() -> None:
    moment = datetime.fromisoformat("2026-03-08T03:00:00-04:00")
    assert to_db(moment) == "2026-03-08T07:00:00Z"
    assert from_db("2026-03-08T07:00:00Z") == at("2026-03-08T07:00Z")
    assert from_db(None) is None
    assert to_slot(moment) == "20260308T070000Z"


def test_db_text_refuses_naive_values() -> None:
    with pytest.raises(ValueError):
        to_db(datetime(2026, 3, 8, 7, 0))
    with pytest.raises(ValueError):
        from_db("2026-03-08T07:00:00")
    assert from_db("2026-03-08T07:00:00Z").tzinfo is UTC  # type: ignore[union-attr]
