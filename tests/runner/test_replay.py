"""Recorded RunnerWorkflow histories still replay: a change to the workflow code that would
break runs already in flight (a reordered activity, a new timer) fails here, not in production.

The plain histories were recorded before begin and finish became local activities (behind the
`local-store-steps` patch), the `_local_steps` ones after, the `_local_delivery` ones after the
delivery became a local activity too (`local-delivery`), the `_first_attempt_in_begin` ones
after begin made the first attempt (`first-attempt-in-begin`), the `_steps_1` ones from runs
started with `RunnerInput.steps` 1 (the same steps, no patch markers), and `started_ahead` from a
run the dispatch started ahead of its (jittered) instant (`test_started_ahead.py`, which records
it the same way): all must replay. To record
the current ones again after an intended, versioned change, run
`TIMEKEEPER_RECORD_HISTORIES=1 pytest tests/runner/test_workflows.py -k "retried or cancel_betw"`
and rename what it writes to `*_<change>.json`, restoring the plain ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from runner.workflows import RunnerWorkflow
from tests.runner.fixtures_runner import HISTORIES


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    result = await Replayer(workflows=[RunnerWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None


def test_the_recorded_histories_are_present() -> None:
    assert sorted(p.stem for p in HISTORIES.glob("*.json")) == [
        "cancel_between_retries",
        "cancel_between_retries_first_attempt_in_begin",
        "cancel_between_retries_local_delivery",
        "cancel_between_retries_local_steps",
        "cancel_between_retries_steps_1",
        "retry_then_success",
        "retry_then_success_first_attempt_in_begin",
        "retry_then_success_local_delivery",
        "retry_then_success_local_steps",
        "retry_then_success_steps_1",
        "started_ahead",
    ]
