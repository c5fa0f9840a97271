"""The alert pump: a stalled scheduler is alerted once per stall to every listening hook of
every project, and each delivery's workflow is started once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from alerts.models import alert_workflow_id
from alerts.pump import AlertPump
from runtime_db.alerts import put_hook
from runtime_db.models import AlertDelivery
from runtime_db.scheduler_state import record_tick, register

TICKED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _setup(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        register(
            session,
            generation=7,
            deployment_id="d7",
            workflow_id="scheduler-d7",
            run_id=None,
            task_queue="q",
            now=TICKED - timedelta(hours=1),
        )
        record_tick(session, 7, TICKED, {})
        for tenant, project, events in (
            ("acme", "web", ["scheduler.stalled"]),
            ("globex", "ops", ["scheduler.stalled", "invocation.failed"]),
            ("acme", "quiet", ["invocation.failed"]),
        ):
            put_hook(
                session,
                tenant,
                project,
                "pager",
                url="http://127.0.0.1:9/",
                events=events,
                secret_env=None,
                now=TICKED,
            )


def _stalled(sessions: sessionmaker[Session]) -> list[tuple[str, str, str, object]]:
    with sessions() as session:
        rows = session.scalars(select(AlertDelivery).order_by(AlertDelivery.tenant_id))
        return [(r.tenant_id, r.project_id, r.event, r.payload["detail"]) for r in rows]


async def test_a_stall_is_alerted_once_to_every_listening_hook(
    session_factory: sessionmaker[Session], dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    _setup(session_factory)
    clock = _Clock(TICKED + timedelta(seconds=180))
    pump = AlertPump(dev_env.client, session_factory, task_queue, 60, now=clock)

    assert await pump.once() == 0  # 3 ticks of silence: not yet a stall
    clock.now += timedelta(seconds=1)
    assert await pump.once() == 0  # checked at most every 15 s
    clock.now += timedelta(seconds=15)
    assert await pump.once() == 2
    clock.now += timedelta(seconds=60)
    assert await pump.once() == 0  # the same stall: nothing new

    reason = (
        "the scheduler (generation 7) has not ticked since 2026-03-02T10:00:00Z: 196 s,"
        " more than 3 ticks of 60 s"
    )
    assert _stalled(session_factory) == [
        ("acme", "web", "scheduler.stalled", reason),
        ("globex", "ops", "scheduler.stalled", reason),
    ]
    with session_factory() as session:
        ids = list(session.scalars(select(AlertDelivery.id)))
        assert all(
            r.workflow_started_at == TICKED + timedelta(seconds=196)
            for r in session.scalars(select(AlertDelivery))
        )
    for delivery_id in ids:
        handle = dev_env.client.get_workflow_handle(alert_workflow_id(str(delivery_id)))
        assert (await handle.describe()).task_queue == f"{task_queue}-alerts"
