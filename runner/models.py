"""Inputs and outputs of the runner's workflow and activities: one dataclass each, no I/O.

They travel through Temporal's history, so they hold plain values (text, numbers, datetimes,
JSON-shaped dicts) and stay stable: a field added later needs a default.

Annotations here are real types, not strings (no `from __future__ import annotations`): the
payload converter resolves a dataclass's hints on every decode, and string hints made that
about three times slower (BENCHMARKS.md).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runner.contract import RunnerInput

# Sent by the cancel endpoint once the row is marked: wakes a run sleeping between retries.
CANCEL_SIGNAL = "cancel"


@dataclass(frozen=True)
class BeginInput:
    run: RunnerInput
    workflow_id: str
    now: datetime


@dataclass(frozen=True)
class Delivery:
    """What every attempt of one invocation sends, fixed when the invocation begins."""

    invocation_id: str
    tenant_id: str
    project_id: str
    agent_id: str
    trigger_id: str
    trigger_name: str
    scheduled_for: str  # UTC `YYYY-MM-DDTHH:MM:SSZ`
    message: str
    payload: dict[str, Any]
    url: str
    protocol: str
    auth_header_env: str | None
    timeout_seconds: float
    max_retries: int
    retry_delay_seconds: int
    first_attempt: int = 1


@dataclass(frozen=True)
class Plan:
    """What `begin_invocation` decided: deliver (`delivery` set, status running) or stop here
    with the terminal status the invocation has (skipped, failed, cancelled, or an earlier end)."""

    invocation_id: str
    status: str  # running, a terminal status, or "waiting" (buffer_one: begin again later)
    reason: str | None = None
    delivery: Delivery | None = None
    # cancel_running: the workflow of the run this one replaced, to wake it with the signal.
    cancelled_workflow_id: str | None = None


@dataclass(frozen=True)
class DeliverInput:
    delivery: Delivery
    attempt: int
    # The workflow's clock when the attempt began; absent in runs recorded before the delivery
    # became a local activity (the activity's own start time stands in).
    at: datetime | None = None


@dataclass(frozen=True)
class AttemptOutcome:
    """One attempt as the workflow needs it; the full record is already in the attempt row."""

    ok: bool
    retryable: bool
    http_status: int | None = None
    error_class: str | None = None
    error_message: str | None = None
    retry_after_seconds: float | None = None
    # Set when no attempt was made: the invocation status that forbade it (e.g. cancelled).
    blocked_by: str | None = None


@dataclass(frozen=True)
class AttemptRecord:
    """A failed attempt the workflow records itself: the deliver activity never reported back
    (its worker died, or it outlived its Temporal timeout)."""

    invocation_id: str
    attempt: int
    started_at: datetime
    duration_ms: int
    error_class: str
    error_message: str


@dataclass(frozen=True)
class FinishInput:
    invocation_id: str
    status: str
    reason: str | None
    now: datetime


@dataclass(frozen=True)
class Finished:
    """The invocation's status after finishing: a cancel that landed first is kept."""

    status: str
    reason: str | None


@dataclass(frozen=True)
class Began:
    """What `begin_and_deliver` did: the plan and, when the plan was to deliver (and no other run
    had to be woken first), the first attempt's outcome; `finished` when that attempt ended the
    invocation (closed in the attempt's transaction), `lost` when the attempt failed inside the
    worker rather than at the agent (the workflow records it, as for a lost deliver activity)."""

    plan: Plan
    first: AttemptOutcome | None = None
    finished: Finished | None = None
    lost: str | None = None


@dataclass(frozen=True)
class RunnerOutcome:
    invocation_id: str
    status: str
    reason: str | None
    attempts: int
