"""Occurrences the scheduler passed without a trace: neither a run nor a `missed` record.

Dispatch records every occurrence it moves past (a `pending` run, or `missed` with the reason)
before it advances `next_run_at`, so an instant before `next_run_at` with no scheduled
invocation is a silent loss. The check looks back `LOOKBACK` (and never before the definition's
last change, since a new schedule starts from its save); the repair records each such instant
as `missed`, which also raises its `invocation.missed` alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import islice

from sqlalchemy.orm import Session, sessionmaker

from alerts.events import MISSED, invocation_event
from audit.checks import trigger_subject
from audit.findings import INSTANTS_UNACCOUNTED, Finding, Repair
from audit.scan import ManageSnapshot, ProjectTriggers, ScheduleSnapshot
from dispatcher.planning import unfired_row
from manage_db.next_run import iter_fire_times
from manage_db.timestamps import from_db, to_db
from manage_db.triggers import TriggerRow
from runtime_db.alerts import enqueue
from runtime_db.invocations import record_missed
from runtime_db.models import TriggerSchedule

LOOKBACK = timedelta(hours=24)
_MAX_INSTANTS = 1440  # per trigger: a day of a per-minute schedule
REASON = "missed: the scheduler passed it without a run or a record (found by the audit)"


def unaccounted(
    trigger: TriggerRow,
    row: TriggerSchedule,
    accounted: set[datetime],
    since: datetime,
    now: datetime,
) -> list[datetime]:
    """The instants of an enabled, fireable trigger, after `since` and its last change, before
    its `next_run_at` and not after `now`, that have no scheduled invocation."""
    if not trigger.enabled or row.invalid_reason is not None:
        return []
    if row.definition_version != trigger.version:
        return []
    try:
        changed = from_db(trigger.updated_at)
        run_at = from_db(trigger.run_at)
    except ValueError:
        return []
    start = max(since, changed) if changed is not None else since
    if row.cron_expression is not None:
        if row.next_run_at is None:
            return []
        try:
            times = iter_fire_times(row.cron_expression, row.cron_timezone, start)
            expected = [t for t in islice(times, _MAX_INSTANTS) if t < row.next_run_at]
        except ValueError:
            return []
    elif run_at is not None and row.next_run_at is None and start < run_at:
        expected = [run_at]
    else:
        expected = []
    return [t for t in expected if t <= now and t not in accounted]


def _each(
    manage: ManageSnapshot, schedules: ScheduleSnapshot, now: datetime
) -> list[tuple[ProjectTriggers, TriggerRow, list[datetime]]]:
    found = []
    for _, project in sorted(manage.projects.items()):
        if project.triggers is None or schedules.synced_heads.get(project.branch) != project.head:
            continue
        for trigger in project.triggers.values():
            key = (project.tenant_id, project.project_id, trigger.id)
            row = schedules.rows.get(key)
            if row is None:
                continue
            instants = unaccounted(
                trigger,
                row,
                schedules.accounted.get(key, set()),
                schedules.accounted_since,
                now,
            )
            if instants:
                found.append((project, trigger, instants))
    return found


def check_instants_unaccounted(
    manage: ManageSnapshot, schedules: ScheduleSnapshot, now: datetime
) -> list[Finding]:
    return [
        Finding(
            INSTANTS_UNACCOUNTED,
            trigger_subject(project, trigger),
            f"{len(instants)} instant(s) passed without a run or a missed record:"
            f" {to_db(instants[0])} .. {to_db(instants[-1])}",
            fixable=True,
        )
        for project, trigger, instants in _each(manage, schedules, now)
    ]


def repair_unaccounted(
    session_factory: sessionmaker[Session],
    manage: ManageSnapshot,
    schedules: ScheduleSnapshot,
    findings: list[Finding],
    now: datetime,
) -> list[Repair]:
    """Record each unaccounted instant as `missed` (idempotent per instant), with its alert."""
    named = {tuple(f.subject.values()): f for f in findings if f.check == INSTANTS_UNACCOUNTED}
    repairs = []
    for project, trigger, instants in _each(manage, schedules, now):
        finding = named.get((project.tenant_id, project.project_id, trigger.id))
        if finding is None:
            continue
        rows = [
            unfired_row(
                project.tenant_id, project.project_id, trigger.agent_id, trigger.id, t, REASON
            )
            for t in instants
        ]
        with session_factory.begin() as session:
            new = record_missed(session, rows, now)
            enqueue(session, [invocation_event(MISSED, row, now) for row in new], now)
        finding.fixed = True
        repairs.append(
            Repair(
                INSTANTS_UNACCOUNTED,
                finding.subject,
                f"recorded {len(new)} instant(s) as missed",
            )
        )
    return repairs
