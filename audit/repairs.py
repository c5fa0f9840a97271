"""The repairs that are safe to make unattended; each marks its finding fixed only if it took.

Manage-store repairs are one Dolt commit per branch, authored `audit`, naming what changed;
every write is a compare-and-set on what the audit read, so a concurrent edit wins.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from audit.checks import orphan_reason, schedule_errors
from audit.findings import (
    AUDIT_AUTHOR,
    INVOCATION_ORPHANED,
    INVOCATION_STALE,
    NEXT_RUN_MISSING,
    SCHEDULER_MISSING,
    SCHEDULER_NOT_RUNNING,
    SUPERSEDED_STILL_RUNNING,
    Finding,
    Repair,
)
from audit.scan import ManageSnapshot, OpenInvocation, RuntimeSnapshot
from dispatcher.control import ensure_scheduler
from manage_db.next_run import Schedule, initial_next_run
from manage_db.store import ManageStore
from manage_db.timestamps import from_db, to_db
from manage_db.triggers import TriggerRow, fill_next_run
from runner.launch import signal_cancel
from runtime_db.invocations import OPEN_STATUSES, finish, request_cancel
from runtime_db.models import Invocation

log = logging.getLogger(__name__)

STALE_REASON = "audit: exceeded timeout and retries"


def _schedule(trigger: TriggerRow) -> Schedule:
    run_at = from_db(trigger.run_at) if trigger.run_at is not None else None
    return Schedule(trigger.cron_expression, trigger.cron_timezone, run_at)


def repair_next_run_missing(
    store: ManageStore, snapshot: ManageSnapshot, findings: list[Finding], now: datetime
) -> list[Repair]:
    """Recompute `next_run_at` from now, as re-enabling does: one commit per branch."""
    per_branch: dict[str, list[tuple[Finding, TriggerRow]]] = defaultdict(list)
    for finding in findings:
        if finding.check != NEXT_RUN_MISSING or not finding.fixable:
            continue
        project = snapshot.projects[(finding.subject["tenant_id"], finding.subject["project_id"])]
        assert project.triggers is not None
        trigger = project.triggers[finding.subject["trigger_id"]]
        if not schedule_errors(trigger):
            per_branch[project.branch].append((finding, trigger))
    repairs: list[Repair] = []
    for branch, items in sorted(per_branch.items()):
        done: list[tuple[Finding, str]] = []
        with store.write(branch, author=AUDIT_AUTHOR, message="audit") as unit:
            for finding, trigger in items:
                next_run = initial_next_run(_schedule(trigger), now)
                if next_run is None:
                    continue
                if fill_next_run(
                    unit.conn,
                    trigger.id,
                    expected_version=trigger.version,
                    next_run_at=to_db(next_run),
                    updated_at=to_db(now),
                ):
                    done.append((finding, to_db(next_run)))
            names = ", ".join(finding.subject["trigger_id"] for finding, _ in done)
            unit.message = f"audit: recompute missing next_run_at of {names}"
        for finding, next_run_text in done:
            finding.fixed = True
            repairs.append(
                Repair(
                    NEXT_RUN_MISSING,
                    finding.subject,
                    f"next_run_at set to {next_run_text} (commit {unit.commit_hash})",
                )
            )
    return repairs


async def repair_scheduler(
    client: Client,
    session_factory: sessionmaker[Session],
    runtime: RuntimeSnapshot,
    findings: list[Finding],
    *,
    deployment_id: str,
    task_queue: str,
    tick_seconds: int,
) -> list[Repair]:
    """Ensure a scheduler runs, then cancel superseded runs (they would end at their next tick).

    A registered scheduler that stopped is restarted for its own deployment, on its own task
    queue (its generation stays; no new one is allocated); `deployment_id` and `task_queue` are
    used only when none was ever registered.
    """
    repairs: list[Repair] = []
    absent = [f for f in findings if f.check in (SCHEDULER_MISSING, SCHEDULER_NOT_RUNNING)]
    if absent:
        if runtime.registered is not None:
            deployment_id = runtime.registered.deployment_id
            task_queue = runtime.registered.task_queue
        try:
            started = await ensure_scheduler(
                client,
                session_factory,
                deployment_id=deployment_id,
                task_queue=task_queue,
                tick_seconds=tick_seconds,
            )
        except (RPCError, RuntimeError):
            log.exception("audit: could not ensure the scheduler; the finding stays unfixed")
            started = None
        for finding in absent if started is not None else []:
            finding.fixed = True
            repairs.append(
                Repair(
                    finding.check,
                    finding.subject,
                    f"started scheduler {started.workflow_id} run {started.run_id}"
                    f" (generation {started.generation}) on task queue {task_queue}",
                )
            )
    for finding in findings:
        if finding.check != SUPERSEDED_STILL_RUNNING:
            continue
        workflow_id = str(finding.subject["workflow_id"])
        try:
            await client.get_workflow_handle(workflow_id).cancel()
            action = f"requested cancellation of {workflow_id}"
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                log.exception("audit: could not cancel %s; the finding stays unfixed", workflow_id)
                continue
            action = f"{workflow_id} had already ended"
        finding.fixed = True
        repairs.append(Repair(SUPERSEDED_STILL_RUNNING, finding.subject, action))
    return repairs


def _close_invocations(
    session_factory: sessionmaker[Session],
    closing: list[tuple[Finding, OpenInvocation, str]],
    now: datetime,
) -> list[tuple[Finding, OpenInvocation, str]]:
    """One transaction; only rows still open change (a run that ended meanwhile keeps its end)."""
    changed = []
    with session_factory.begin() as session:
        for finding, invocation, reason in closing:
            if finding.check == INVOCATION_STALE:
                row = session.get(Invocation, invocation.id, with_for_update=True)
                if row is None or row.status not in OPEN_STATUSES:
                    continue
                finish(session, invocation.id, status="failed", reason=reason, now=now)
            else:
                _, took = request_cancel(session, invocation.id, reason=reason, now=now)
                if not took:
                    continue
            changed.append((finding, invocation, reason))
    return changed


async def repair_invocations(
    session_factory: sessionmaker[Session],
    client: Client | None,
    manage: ManageSnapshot,
    runtime: RuntimeSnapshot,
    findings: list[Finding],
    now: datetime,
) -> list[Repair]:
    """Mark stale invocations failed and cancel orphaned ones, then wake their runners."""
    by_id: dict[uuid.UUID, OpenInvocation] = {i.id: i for i in runtime.open_invocations}
    closing: list[tuple[Finding, OpenInvocation, str]] = []
    for finding in findings:
        if finding.check not in (INVOCATION_STALE, INVOCATION_ORPHANED):
            continue
        invocation = by_id[uuid.UUID(finding.subject["invocation_id"])]
        if finding.check == INVOCATION_STALE:
            reason = STALE_REASON
        else:
            reason = f"audit: {orphan_reason(manage, invocation)}"
        closing.append((finding, invocation, reason))
    if not closing:
        return []
    changed = await asyncio.to_thread(_close_invocations, session_factory, closing, now)
    repairs = []
    for finding, invocation, reason in changed:
        finding.fixed = True
        status = "failed" if finding.check == INVOCATION_STALE else "cancelled"
        repairs.append(Repair(finding.check, finding.subject, f"{status}: {reason}"))
        if client is not None:
            # A runner sleeping between retries wakes, sees the closed row and stops.
            await signal_cancel(client, invocation.workflow_id)
    return repairs
