"""One audit run: read the stores, run every check, repair what is safe when asked to."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from audit.checks import (
    check_invocation_orphaned,
    check_invocation_stale,
    check_schedule_invalid,
    check_scheduler,
    check_schema_behind,
)
from audit.findings import Finding
from audit.repairs import repair_invocations, repair_scheduler
from audit.report import AuditReport
from audit.scan import (
    Progress,
    RuntimeSnapshot,
    ScheduleSnapshot,
    read_manage,
    read_runtime,
    read_schedules,
)
from audit.schedule_checks import check_next_run_missing, check_schedule_sync, check_trigger_overdue
from audit.schedule_repairs import repair_schedules
from audit.unaccounted import LOOKBACK, check_instants_unaccounted, repair_unaccounted
from dispatcher.models import PLAIN_SCHEDULER, SchedulerOptions
from manage_db.schema import MIGRATIONS, Migration
from manage_db.store import ManageStore
from manage_db.timestamps import utc_now


@dataclass
class AuditContext:
    """What an audit needs, handed in once; `now` is a clock so one context serves many runs.

    `deployment_id`, `task_queue` and `scheduler` say where and how a missing scheduler is
    started.
    """

    store: ManageStore
    session_factory: sessionmaker[Session]
    temporal: Client | None
    tick_seconds: int
    task_queue: str
    deployment_id: str
    now: Callable[[], datetime] = field(default=utc_now)
    migrations: tuple[Migration, ...] = MIGRATIONS
    scheduler: SchedulerOptions = PLAIN_SCHEDULER


def _read_runtime(session_factory: sessionmaker[Session]) -> RuntimeSnapshot:
    with session_factory() as session:
        return read_runtime(session)


def _read_schedules(session_factory: sessionmaker[Session], since: datetime) -> ScheduleSnapshot:
    with session_factory() as session:
        return read_schedules(session, since)


async def run_audit(
    ctx: AuditContext, *, fix: bool, progress: Progress | None = None
) -> AuditReport:
    """Every check, then (with `fix`) every safe repair; the report lists both.

    The runtime store is read before the manage store: an invocation is always created after
    its trigger, so every invocation seen has its trigger in the later manage read, and a
    trigger created mid-audit can never make a fresh run look orphaned. Schedule state is read
    after the manage store: a branch whose head moved in between is reported as behind (its
    sync is a no-op), never as rows that disagree with it.
    """
    now = ctx.now()
    runtime = await asyncio.to_thread(_read_runtime, ctx.session_factory)
    manage = await asyncio.to_thread(read_manage, ctx.store, ctx.migrations, progress)
    schedules = await asyncio.to_thread(_read_schedules, ctx.session_factory, now - LOOKBACK)
    findings: list[Finding] = [
        *check_schedule_sync(manage, schedules),
        *check_next_run_missing(manage, schedules, now),
        *check_trigger_overdue(schedules, now, ctx.tick_seconds),
        *check_instants_unaccounted(manage, schedules, now),
        *check_schedule_invalid(manage),
        *await check_scheduler(ctx.temporal, runtime),
    ]
    orphaned = check_invocation_orphaned(manage, runtime)
    findings += check_invocation_stale(
        manage,
        runtime,
        now,
        ctx.tick_seconds,
        exclude={str(f.subject["invocation_id"]) for f in orphaned},
    )
    findings += orphaned
    findings += check_schema_behind(manage)
    report = AuditReport(checked_at=now, findings=findings)
    if fix:
        report.repairs += await asyncio.to_thread(
            repair_schedules, ctx.store, ctx.session_factory, manage, findings, now
        )
        report.repairs += await asyncio.to_thread(
            repair_unaccounted, ctx.session_factory, manage, schedules, findings, now
        )
        if ctx.temporal is not None:
            report.repairs += await repair_scheduler(
                ctx.temporal,
                ctx.session_factory,
                runtime,
                findings,
                deployment_id=ctx.deployment_id,
                task_queue=ctx.task_queue,
                tick_seconds=ctx.tick_seconds,
                options=ctx.scheduler,
            )
        report.repairs += await repair_invocations(
            ctx.session_factory, ctx.temporal, manage, runtime, findings, now
        )
    return report.sorted()
