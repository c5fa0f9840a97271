"""How a deployment's settings start its scheduler (`scheduler_options`).

Each test runs in an empty directory, so that no `.env` there speaks for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatcher.models import SchedulerOptions
from timekeeper.settings import load_settings
from timekeeper.wiring import scheduler_options


def test_by_default_the_scheduler_hands_each_minute_over_20_s_ahead(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIMEKEEPER_MINUTE_LEAD_SECONDS", raising=False)
    monkeypatch.delenv("TIMEKEEPER_ONE_TIME_LEAD_SECONDS", raising=False)
    assert scheduler_options(load_settings()) == SchedulerOptions(
        lead_ms=30_000, minute_lead_ms=20_000, separate_runs_queue=True
    )


def test_a_minute_lead_of_0_dispatches_each_minute_at_the_minute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIMEKEEPER_MINUTE_LEAD_SECONDS", "0")
    assert scheduler_options(load_settings()).minute_lead_ms == 0


def test_a_minute_lead_past_the_workers_clock_wait_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIMEKEEPER_MINUTE_LEAD_SECONDS", "26")
    with pytest.raises(ValidationError) as raised:
        load_settings()
    assert [error["loc"] for error in raised.value.errors()] == [("minute_lead_seconds",)]
