"""The repairs that are safe to make unattended; each marks its finding fixed only if it took.

The audit never writes to the manage store: definitions are the users'. Every write is a
compare-and-set on what the audit read, so a concurrent edit or run wins.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from audit.checks import orphan_reason
from audit.findings import (
    INVOCATION_ORPHANED,
    INVOCATION_STALE,
    SCHEDULER_MISSING,
    SCHEDULER_NOT_RUNNING,
    SUPERSEDED_STILL_RUNNING,
    Finding,
    Repair,
)
from audit.scan import ManageSnapshot, OpenInvocation, RuntimeSnapshot
from dispatcher.control import ensure_scheduler
from dispatcher.models import PLAIN_SCHEDULER, SchedulerOptions
from runner.launch import signal_cancel
from runtime_db.invocations import finish_if_open, request_cancel

log = logging.getLogger(__name__)

STALE_REASON = "audit: exceeded timeout and retries"


async def repair_scheduler(
    client: Client,
    session_factory: sessionmaker[Session],
    runtime: RuntimeSnapshot,
    findings: list[Finding],
    *,
    deployment_id: str,
    task_queue: str,
    tick_seconds: int,
    options: SchedulerOptions = PLAIN_SCHEDULER,
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
                options=options,
            )
        except (RPCError, RuntimeError):
            log.exception("audit: could not ensure the scheduler; the finding stays unfixed")
            started = None
        for finding in absent:
            if started is None:
                break
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
                if not finish_if_open(
                    session, invocation.id, status="failed", reason=reason, now=now
                ):
                    continue
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
