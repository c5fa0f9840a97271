"""One function per check: each looks at the snapshots (and Temporal) and returns its findings.

Checks never write. Subjects carry the ids an operator (or a repair) needs to find the thing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from audit.findings import (
    INVOCATION_ORPHANED,
    INVOCATION_STALE,
    SCHEDULE_INVALID,
    SCHEDULER_MISSING,
    SCHEDULER_NOT_RUNNING,
    SCHEMA_BEHIND,
    SUPERSEDED_STILL_RUNNING,
    TEMPORAL_UNAVAILABLE,
    Finding,
)
from audit.scan import (
    ManageSnapshot,
    OpenInvocation,
    ProjectTriggers,
    RuntimeSnapshot,
    SchedulerRun,
)
from dispatcher.control import latest_run
from manage_db.next_run import InvalidSchedule, validate_cron, validate_timezone
from manage_db.timestamps import from_db, to_db
from manage_db.triggers import TriggerRow
from runner.backoff import worst_case_seconds
from runner.launch import MANUAL_KINDS

log = logging.getLogger(__name__)

# When neither the invocation nor its trigger says how long a run may take.
DEFAULT_STALE_AFTER = timedelta(hours=24)
_DESCRIBE_CONCURRENCY = 16


def trigger_subject(project: ProjectTriggers, trigger: TriggerRow) -> dict[str, str]:
    return {
        "tenant_id": project.tenant_id,
        "project_id": project.project_id,
        "trigger_id": trigger.id,
    }


def _readable(snapshot: ManageSnapshot) -> list[tuple[ProjectTriggers, dict[str, TriggerRow]]]:
    return [
        (project, project.triggers)
        for _, project in sorted(snapshot.projects.items())
        if project.triggers is not None
    ]


def schedule_errors(trigger: TriggerRow) -> list[tuple[str, str]]:
    """(field, message) for every part of a stored schedule that does not parse now."""
    errors: list[tuple[str, str]] = []
    if (trigger.cron_expression is None) == (trigger.run_at is None):
        errors.append(("cron_expression", "exactly one of cron_expression and run_at must be set"))
    if trigger.cron_expression is not None:
        try:
            validate_cron(trigger.cron_expression)
        except InvalidSchedule as exc:
            errors.append(("cron_expression", exc.message))
    try:
        validate_timezone(trigger.cron_timezone)
    except InvalidSchedule as exc:
        errors.append(("cron_timezone", exc.message))
    if trigger.run_at is not None and _parse(trigger.run_at) is None:
        errors.append(("run_at", f"not a UTC timestamp: {trigger.run_at!r}"))
    return errors


def _parse(text: str) -> datetime | None:
    try:
        return from_db(text)
    except ValueError:
        return None


def check_schedule_invalid(snapshot: ManageSnapshot) -> list[Finding]:
    """Stored schedules that no longer parse (a tzdata or validation change); never guessed at."""
    findings = []
    for project, triggers in _readable(snapshot):
        for trigger in triggers.values():
            for field, message in schedule_errors(trigger):
                subject = {**trigger_subject(project, trigger), "field": field}
                state = "enabled" if trigger.enabled else "disabled"
                findings.append(
                    Finding(SCHEDULE_INVALID, subject, f"{message} ({state} trigger)", False)
                )
    return findings


def check_schema_behind(snapshot: ManageSnapshot) -> list[Finding]:
    return [
        Finding(
            SCHEMA_BEHIND,
            {"branch": branch, "version": version},
            f"schema version {version}, latest is {snapshot.target_version}:"
            " run `timekeeper migrate`",
            fixable=False,
        )
        for branch, version in sorted(snapshot.versions.items())
        if version < snapshot.target_version
    ]


def invocation_subject(invocation: OpenInvocation) -> dict[str, str]:
    return {
        "tenant_id": invocation.tenant_id,
        "project_id": invocation.project_id,
        "trigger_id": invocation.trigger_id,
        "invocation_id": str(invocation.id),
        "status": invocation.status,
    }


_ORPHAN_MESSAGES = {
    "project deleted": "its project branch no longer exists",
    "trigger deleted": "its trigger no longer exists",
    "trigger disabled": "its trigger was disabled after it was scheduled",
}


def orphan_reason(snapshot: ManageSnapshot, invocation: OpenInvocation) -> str | None:
    """Why an open invocation has nothing left to run for, or None when it still does.

    A scheduled run of a trigger disabled since it began is orphaned; manual runs and reruns
    ignore `enabled`, as the runner does.
    """
    project = snapshot.projects.get((invocation.tenant_id, invocation.project_id))
    if project is None:
        return "project deleted"
    if project.triggers is None:
        return None
    trigger = project.triggers.get(invocation.trigger_id)
    if trigger is None or trigger.agent_id != invocation.agent_id:
        return "trigger deleted"
    if not trigger.enabled and invocation.kind not in MANUAL_KINDS:
        return "trigger disabled"
    return None


def check_invocation_orphaned(snapshot: ManageSnapshot, runtime: RuntimeSnapshot) -> list[Finding]:
    findings = []
    for invocation in runtime.open_invocations:
        reason = orphan_reason(snapshot, invocation)
        if reason is not None:
            findings.append(
                Finding(
                    INVOCATION_ORPHANED,
                    invocation_subject(invocation),
                    f"{invocation.status} invocation, but {_ORPHAN_MESSAGES[reason]}",
                    fixable=True,
                )
            )
    return findings


def stale_after(
    snapshot: ManageSnapshot, invocation: OpenInvocation, tick_seconds: int
) -> datetime:
    """The instant past which this invocation cannot still be legitimately open.

    The runner's own `deadline_at` when it set one (from the same worst case as below), else the
    worst case of the trigger's current settings from when it started (or was created), else a
    generous default; plus two ticks, so a run that is merely slow is never called stale.
    """
    grace = timedelta(seconds=2 * tick_seconds)
    if invocation.deadline_at is not None:
        return invocation.deadline_at + grace
    start = invocation.started_at or invocation.created_at
    project = snapshot.projects.get((invocation.tenant_id, invocation.project_id))
    trigger = (project.triggers or {}).get(invocation.trigger_id) if project else None
    if trigger is None:
        return start + DEFAULT_STALE_AFTER + grace
    max_retries = trigger.max_retries
    if invocation.max_attempts is not None:
        max_retries = max(invocation.max_attempts - 1, 0)
    worst = worst_case_seconds(max_retries, trigger.retry_delay_seconds, trigger.timeout_seconds)
    return start + timedelta(seconds=worst) + grace


def check_invocation_stale(
    snapshot: ManageSnapshot,
    runtime: RuntimeSnapshot,
    now: datetime,
    tick_seconds: int,
    exclude: set[str],
) -> list[Finding]:
    """Open invocations past their timeout and retries; `exclude` holds ids already orphaned."""
    findings = []
    for invocation in runtime.open_invocations:
        if str(invocation.id) in exclude:
            continue
        bound = stale_after(snapshot, invocation, tick_seconds)
        if bound < now:
            since = "started" if invocation.started_at is not None else "created"
            findings.append(
                Finding(
                    INVOCATION_STALE,
                    invocation_subject(invocation),
                    f"{invocation.status} past what its timeout and retries allow"
                    f" ({since} {to_db(invocation.started_at or invocation.created_at)},"
                    f" stale after {to_db(bound)})",
                    fixable=True,
                )
            )
    return findings


class TemporalUnavailable(RuntimeError):
    """Temporal did not answer a describe; the scheduler checks are reported as skipped."""


async def workflow_status(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    """What Temporal says of a workflow id's latest run (continue-as-new and a restart keep the
    id and the generation, and the new run registers itself again), as `ensure_scheduler` sees it.

    None when Temporal does not know the id; other RPC failures raise TemporalUnavailable, so an
    unreachable Temporal is never mistaken for a stopped scheduler.
    """
    try:
        description = await latest_run(client, workflow_id)
    except RPCError as exc:
        raise TemporalUnavailable(exc.message) from exc
    except RuntimeError as exc:  # a lazy client that cannot connect
        raise TemporalUnavailable(str(exc)) from exc
    return None if description is None else description.status


def _status_name(status: WorkflowExecutionStatus | None) -> str:
    return "unknown to Temporal" if status is None else status.name


def temporal_unavailable(message: str) -> Finding:
    return Finding(TEMPORAL_UNAVAILABLE, {}, message, fixable=False)


async def check_scheduler(client: Client | None, runtime: RuntimeSnapshot) -> list[Finding]:
    """No scheduler registered, the registered run not running, or a superseded run alive."""
    if client is None:
        return [temporal_unavailable("Temporal is not configured: scheduler checks skipped")]
    registered = runtime.registered
    if registered is None:
        return [
            Finding(SCHEDULER_MISSING, {}, "no scheduler is registered: nothing dispatches", True)
        ]
    findings: list[Finding] = []
    try:
        status = await workflow_status(client, registered.workflow_id)
        if status != WorkflowExecutionStatus.RUNNING:
            findings.append(
                Finding(
                    SCHEDULER_NOT_RUNNING,
                    _run_subject(registered),
                    f"the registered scheduler is {_status_name(status)} in Temporal:"
                    " nothing dispatches",
                    fixable=True,
                )
            )
        # Generations accumulate with every deploy: ask about them a few at a time.
        gate = asyncio.Semaphore(_DESCRIBE_CONCURRENCY)

        async def status_of(run: SchedulerRun) -> WorkflowExecutionStatus | None:
            async with gate:
                return await workflow_status(client, run.workflow_id)

        statuses = await asyncio.gather(*(status_of(run) for run in runtime.superseded))
        for older, older_status in zip(runtime.superseded, statuses, strict=True):
            if older_status == WorkflowExecutionStatus.RUNNING:
                findings.append(
                    Finding(
                        SUPERSEDED_STILL_RUNNING,
                        _run_subject(older),
                        f"generation {older.generation} was superseded by"
                        f" {registered.generation} but is still running",
                        fixable=True,
                    )
                )
    except TemporalUnavailable:
        log.exception("audit: Temporal did not answer")
        return [temporal_unavailable("Temporal did not answer: scheduler checks skipped")]
    return findings


def _run_subject(run: SchedulerRun) -> dict[str, object]:
    return {
        "generation": run.generation,
        "deployment_id": run.deployment_id,
        "workflow_id": run.workflow_id,
        "run_id": run.run_id,
    }
