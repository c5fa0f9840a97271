"""Inputs and outputs of the alert workflow and its activities.

Annotations here are real types, not strings (no `from __future__ import annotations`): the
payload converter resolves a dataclass's hints on every decode, and string hints made that
about three times slower (see runner.models).
"""

from dataclasses import dataclass

ALERT_WORKFLOW = "timekeeper.alert"


def alert_workflow_id(delivery_id: str) -> str:
    return f"alert-{delivery_id}"


def alerts_queue(task_queue: str) -> str:
    """Alerts have their own task queue and worker: a hanging alert endpoint holds only alert
    slots, never a run's."""
    return f"{task_queue}-alerts"


@dataclass(frozen=True)
class AlertInput:
    delivery_id: str


@dataclass(frozen=True)
class GiveUpInput:
    delivery_id: str
    error: str
