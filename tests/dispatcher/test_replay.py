"""Recorded SchedulerWorkflow histories still replay: a change that breaks determinism (and so
every scheduler running at deploy time) fails here first.

The histories come from `test_a_crashed_advance_is_redone_by_the_next_tick`, (the one with a
dispatch beside a running minute tick) `test_a_one_time_trigger_due_while_the_minutes_dispatch_
runs_is_dispatched_beside_it` and (`ahead_of_the_instant`) `test_a_one_time_trigger_fires_at_
its_second_and_cron_keeps_its_minute`; rerecord them with `TIMEKEEPER_RECORD_HISTORIES=1 pytest
tests/dispatcher/test_scheduler.py -k "crashed or beside or its_second_and_cron"` only when a
change is meant to be incompatible (and ships with a new workflow name or a patch marker). The
plain histories were recorded before the `wake-signal` patch, the `_wake_signal` ones after, the
`_local_check` ones after the check became a local activity (`local-check`), the `_beside` ones
after one-time instants were dispatched beside a running minute tick (`beside-the-minute`), the
`_ahead` ones (and `ahead_of_the_instant`) after the scheduler woke ahead of one-time instants
(`lead-the-instant`), and `minute_lead` (from `test_with_a_minute_lead_each_minute_is_dispatched_
once_ahead_of_it`) from a scheduler woken ahead of each minute; rename what a new recording
writes accordingly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from dispatcher.models import scheduler_workflow_id
from dispatcher.workflows import SchedulerWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert [path.name for path in HISTORIES] == [
        "scheduler_ahead_of_the_instant.json",
        "scheduler_beside_the_minute.json",
        "scheduler_beside_the_minute_ahead.json",
        "scheduler_continued_to_stop.json",
        "scheduler_continued_to_stop_ahead.json",
        "scheduler_continued_to_stop_beside.json",
        "scheduler_continued_to_stop_local_check.json",
        "scheduler_continued_to_stop_wake_signal.json",
        "scheduler_crash_and_continue.json",
        "scheduler_crash_and_continue_ahead.json",
        "scheduler_crash_and_continue_beside.json",
        "scheduler_crash_and_continue_local_check.json",
        "scheduler_crash_and_continue_wake_signal.json",
        "scheduler_minute_lead.json",
    ]


@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_a_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(scheduler_workflow_id("d1"), path.read_text())
    result = await Replayer(workflows=[SchedulerWorkflow]).replay_workflow(history)
    assert result.replay_failure is None
