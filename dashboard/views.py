"""What the pages show, computed from service answers: plain words, local times, field diffs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from manage_db.describe import describe_trigger
from manage_db.history import TriggerVersion
from manage_db.next_run import local_time
from manage_db.timestamps import from_db, to_db
from manage_db.triggers import USER_FIELDS, TriggerRow
from runtime_db.models import Invocation, InvocationAttempt
from service.overview import TriggerOverview

_SHOWN = (
    "agent_id", "enabled", "cron_expression", "run_at", "cron_timezone", "start_at", "end_at",
    "jitter_seconds", "max_runs", "overlap_policy", "catchup", "misfire_grace_seconds",
    "max_retries", "retry_delay_seconds", "timeout_seconds", "message_template", "payload",
    "description", "skipped", "version", "updated_at",
)  # fmt: skip


@dataclass(frozen=True)
class TriggerLine:
    """One row of the project page."""

    trigger: TriggerRow
    status: str
    completed_reason: str | None
    pause: dict[str, Any] | None
    description: str
    next_local: str | None
    last: Invocation | None
    last_at: str | None


@dataclass(frozen=True)
class InvocationLine:
    row: Invocation
    scheduled_for: str
    started_at: str | None
    duration: str | None
    attempts: list[InvocationAttempt]


@dataclass(frozen=True)
class VersionLine:
    commit: str
    author: str
    time: str
    message: str
    diff: list[tuple[str, str, str]]


def local_text(instant: str | None, zone: str) -> str | None:
    moment = from_db(instant)
    return local_of(moment, zone) if moment is not None else None


def local_of(moment: datetime, zone: str) -> str:
    """An instant as the trigger's timezone shows it: `2026-03-03 02:30 CET`."""
    return local_time(moment, zone).strftime("%Y-%m-%d %H:%M %Z")


def trigger_line(o: TriggerOverview) -> TriggerLine:
    last_at = None
    if o.last is not None:
        moment = o.last.finished_at or o.last.started_at or o.last.created_at
        last_at = to_db(moment)
    return TriggerLine(
        o.trigger,
        o.status,
        o.completed_reason,
        o.trigger.pause_dict,
        describe_trigger(o.trigger),
        local_text(o.trigger.next_run_at, o.trigger.cron_timezone),
        o.last,
        last_at,
    )


def definition_of(row: TriggerRow) -> list[tuple[str, str]]:
    shown = []
    for name in _SHOWN:
        value = getattr(row, name)
        if value is None or value == "":
            continue
        shown.append((name, value if isinstance(value, str) else json.dumps(value)))
    return shown


def _duration(row: Invocation) -> str | None:
    if row.started_at is None or row.finished_at is None:
        return None
    return f"{(row.finished_at - row.started_at).total_seconds():.1f} s"


def _at(moment: datetime | None) -> str | None:
    return to_db(moment) if moment is not None else None


def invocation_line(row: Invocation, attempts: list[InvocationAttempt]) -> InvocationLine:
    return InvocationLine(
        row, to_db(row.scheduled_for), _at(row.started_at), _duration(row), attempts
    )


def version_lines(versions: list[TriggerVersion]) -> list[VersionLine]:
    """Newest first, each with the user fields it changed from the version before it."""
    lines = []
    for index, version in enumerate(versions):
        before = versions[index + 1].trigger if index + 1 < len(versions) else None
        diff = []
        for name in USER_FIELDS:
            new = getattr(version.trigger, name)
            old = getattr(before, name) if before is not None else None
            if before is None or old != new:
                diff.append(
                    (name, "" if old is None else str(old), "" if new is None else str(new))
                )
        lines.append(
            VersionLine(version.commit, version.author, version.time, version.message, diff)
        )
    return lines


def _shown(value: object) -> str:
    return "" if value is None else str(value)
