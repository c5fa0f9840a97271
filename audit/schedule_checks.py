"""Checks of schedule state (PostgreSQL) against the definitions on the project branches.

A branch whose head is not the head its rows were synced at is reported once, as
`schedule_behind`, and its rows are not compared trigger by trigger: the next tick (or a fix)
syncs it as a whole. Rows of a branch synced at its current head must match it exactly; any
difference there is a fault, and a sync repairs it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from audit.checks import schedule_errors, trigger_subject
from audit.findings import (
    NEXT_RUN_MISSING,
    SCHEDULE_BEHIND,
    SCHEDULE_MISSING,
    SCHEDULE_ORPHANED,
    SCHEDULE_STALE,
    TRIGGER_OVERDUE,
    Finding,
)
from audit.scan import ManageSnapshot, ProjectTriggers, ScheduleSnapshot
from manage_db.timestamps import from_db, to_db
from manage_db.triggers import TriggerRow
from runtime_db.models import TriggerSchedule


def _in_sync(
    manage: ManageSnapshot, schedules: ScheduleSnapshot
) -> list[tuple[ProjectTriggers, dict[str, TriggerRow]]]:
    return [
        (project, project.triggers)
        for _, project in sorted(manage.projects.items())
        if project.triggers is not None
        and schedules.synced_heads.get(project.branch) == project.head
    ]


def check_schedule_sync(manage: ManageSnapshot, schedules: ScheduleSnapshot) -> list[Finding]:
    """Branches not synced at their head; triggers without rows, at another version; rows
    without a trigger."""
    findings = []
    for _, project in sorted(manage.projects.items()):
        if project.triggers is None:
            continue
        synced = schedules.synced_heads.get(project.branch)
        if synced != project.head:
            findings.append(
                Finding(
                    SCHEDULE_BEHIND,
                    {"tenant_id": project.tenant_id, "project_id": project.project_id},
                    f"branch head {project.head} is not synced into schedule state"
                    f" (last synced: {synced or 'never'}); the next tick syncs it",
                    fixable=True,
                )
            )
    for project, triggers in _in_sync(manage, schedules):
        for trigger in triggers.values():
            row = schedules.rows.get((project.tenant_id, project.project_id, trigger.id))
            subject = trigger_subject(project, trigger)
            if row is None:
                findings.append(
                    Finding(SCHEDULE_MISSING, subject, "trigger has no schedule state", True)
                )
            elif row.definition_version != trigger.version:
                findings.append(
                    Finding(
                        SCHEDULE_STALE,
                        subject,
                        f"schedule state is of version {row.definition_version},"
                        f" the definition is at {trigger.version}",
                        True,
                    )
                )
    for tenant_id, project_id, trigger_id in sorted(schedules.rows):
        owner = manage.projects.get((tenant_id, project_id))
        if owner is not None and (owner.triggers is None or trigger_id in owner.triggers):
            continue
        if owner is not None and schedules.synced_heads.get(owner.branch) != owner.head:
            continue  # reported as schedule_behind
        findings.append(
            Finding(
                SCHEDULE_ORPHANED,
                {"tenant_id": tenant_id, "project_id": project_id, "trigger_id": trigger_id},
                "schedule state of a trigger that no longer exists"
                if owner is not None
                else "schedule state of a project that no longer exists",
                True,
            )
        )
    return findings


def _completed_once(trigger: TriggerRow, now: datetime) -> bool:
    """A one-time trigger whose instant has passed: it has no next run, rightly."""
    try:
        run_at = from_db(trigger.run_at)
    except ValueError:
        return False
    return run_at is not None and run_at <= now


def check_next_run_missing(
    manage: ManageSnapshot, schedules: ScheduleSnapshot, now: datetime
) -> list[Finding]:
    """Enabled triggers the dispatcher can never select: their schedule has no `next_run_at`."""
    findings = []
    for project, triggers in _in_sync(manage, schedules):
        for trigger in triggers.values():
            row = schedules.rows.get((project.tenant_id, project.project_id, trigger.id))
            if row is None or row.definition_version != trigger.version:
                continue
            if not trigger.enabled or row.next_run_at is not None or _completed_once(trigger, now):
                continue
            if row.completed_reason is not None:  # its window closed or its run limit was met
                continue
            fixable = not schedule_errors(trigger) and row.invalid_reason is None
            message = "enabled trigger has no next_run_at: it will never fire"
            if not fixable:
                message += f" ({row.invalid_reason or 'its schedule does not parse'})"
            findings.append(
                Finding(NEXT_RUN_MISSING, trigger_subject(project, trigger), message, fixable)
            )
    return findings


def check_trigger_overdue(
    schedules: ScheduleSnapshot, now: datetime, tick_seconds: int
) -> list[Finding]:
    """Enabled triggers due for longer than two ticks: the scheduler is not dispatching them."""
    cutoff = now - timedelta(seconds=2 * tick_seconds)
    findings = []
    for (tenant_id, project_id, trigger_id), row in sorted(schedules.rows.items()):
        if not _overdue(row, cutoff):
            continue
        assert row.next_run_at is not None
        late = int((now - row.next_run_at).total_seconds())
        findings.append(
            Finding(
                TRIGGER_OVERDUE,
                {"tenant_id": tenant_id, "project_id": project_id, "trigger_id": trigger_id},
                f"next_run_at {to_db(row.next_run_at)} is {late} s in the past"
                f" (more than 2 ticks of {tick_seconds} s): is the scheduler dispatching?",
                fixable=False,
            )
        )
    return findings


def _overdue(row: TriggerSchedule, cutoff: datetime) -> bool:
    return row.enabled and row.next_run_at is not None and row.next_run_at < cutoff
