"""Recorded AlertWorkflow histories still replay: a change that would break alerts in flight at
deploy time fails here first. Record them again, only for an intended and versioned change, with
`TIMEKEEPER_RECORD_HISTORIES=1 pytest tests/alerts/test_delivery.py -k "retried or failing"`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from alerts.workflows import AlertWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert [path.name for path in HISTORIES] == ["alert_given_up.json", "alert_retried.json"]


@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_a_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("alert", path.read_text())
    result = await Replayer(workflows=[AlertWorkflow]).replay_workflow(history)
    assert result.replay_failure is None
