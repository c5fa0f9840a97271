"""Repairs of schedule state: re-sync a branch (the same function the dispatcher's tick runs),
or recompute a missing `next_run_at` from now, as re-enabling does. Only PostgreSQL is written.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from audit.findings import (
    NEXT_RUN_MISSING,
    SCHEDULE_BEHIND,
    SCHEDULE_MISSING,
    SCHEDULE_ORPHANED,
    SCHEDULE_STALE,
    Finding,
    Repair,
)
from audit.scan import ManageSnapshot
from dispatcher.schedule_sync import sync_branch
from manage_db.branches import project_branch
from manage_db.next_run import Schedule, initial_next_run
from manage_db.store import ManageStore
from manage_db.timestamps import from_db, to_db
from runtime_db.schedules import fill_next_run

log = logging.getLogger(__name__)

_SYNC_CHECKS = (SCHEDULE_BEHIND, SCHEDULE_MISSING, SCHEDULE_STALE, SCHEDULE_ORPHANED)


def repair_schedules(
    store: ManageStore,
    session_factory: sessionmaker[Session],
    manage: ManageSnapshot,
    findings: list[Finding],
    now: datetime,
) -> list[Repair]:
    """Sync every branch a schedule finding names, then fill missing next runs."""
    by_branch: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.check in _SYNC_CHECKS:
            branch = project_branch(finding.subject["tenant_id"], finding.subject["project_id"])
            by_branch.setdefault(branch, []).append(finding)
    repairs: list[Repair] = []
    for branch, items in sorted(by_branch.items()):
        with session_factory.begin() as session:
            synced = sync_branch(store, session, branch, now)
        counts = synced.counts
        action = (
            f"synced {branch} at {synced.head}: {counts.inserted} added,"
            f" {counts.updated} updated, {counts.deleted} removed"
            if synced.head is not None
            else f"{branch} is gone: {counts.deleted} schedule rows removed"
        )
        for finding in items:
            finding.fixed = True
            repairs.append(Repair(finding.check, finding.subject, action))
    repairs += _fill_next_runs(session_factory, manage, findings, now)
    return repairs


def _fill_next_runs(
    session_factory: sessionmaker[Session],
    manage: ManageSnapshot,
    findings: list[Finding],
    now: datetime,
) -> list[Repair]:
    repairs = []
    with session_factory.begin() as session:
        for finding in findings:
            if finding.check != NEXT_RUN_MISSING or not finding.fixable:
                continue
            subject = finding.subject
            project = manage.projects[(subject["tenant_id"], subject["project_id"])]
            assert project.triggers is not None
            trigger = project.triggers[subject["trigger_id"]]
            schedule = Schedule(
                trigger.cron_expression, trigger.cron_timezone, from_db(trigger.run_at)
            )
            try:
                window = trigger.window
            except ValueError:
                continue  # a window that does not parse: never guessed
            next_run = initial_next_run(schedule, now, window)
            if next_run is None or not fill_next_run(
                session,
                project.tenant_id,
                project.project_id,
                trigger.id,
                expected_version=trigger.version,
                next_run_at=next_run,
                now=now,
            ):
                continue
            finding.fixed = True
            repairs.append(
                Repair(NEXT_RUN_MISSING, subject, f"next_run_at set to {to_db(next_run)}")
            )
    return repairs
