"""What dispatch notices is alerted: each occurrence recorded `missed` and each definition held
as unfireable writes one delivery per listening hook, in the dispatch's own transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.models import DispatchInput
from runtime_db.alerts import put_hook
from runtime_db.models import AlertDelivery, Invocation
from tests.dispatcher.conftest import AGENT, Scene, add_triggers, trigger

AS_OF = "2026-03-02T10:00:00Z"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _hook(sessions: sessionmaker[Session], tenant: str, project: str, events: list[str]) -> None:
    with sessions.begin() as session:
        put_hook(
            session,
            tenant,
            project,
            "pager",
            url="http://127.0.0.1:9/alerts",
            events=events,
            secret_env=None,
            now=NOW,
        )


def _deliveries(sessions: sessionmaker[Session], tenant: str) -> list[AlertDelivery]:
    with sessions() as session:
        return list(
            session.scalars(
                select(AlertDelivery)
                .where(AlertDelivery.tenant_id == tenant)
                .order_by(AlertDelivery.payload["scheduled_for"].astext, AlertDelivery.event)
            )
        )


async def test_missed_occurrences_raise_one_alert_each(scene: Scene) -> None:
    _hook(scene.sessions, scene.tenant, "p1", ["invocation.missed"])
    _hook(scene.sessions, scene.tenant, "p2", ["invocation.missed"])  # another project's
    add_triggers(
        scene.store, scene.branch, trigger("minutely", cron="* * * * *", next_run_at=AS_OF)
    )
    activities = scene.activities()

    for _ in range(2):  # a repeated tick raises nothing twice
        await activities.dispatch(DispatchInput(generation=1, as_of="2026-03-02T10:03:00Z"))

    with scene.sessions() as session:
        missed = {
            str(row.id): row.scheduled_for
            for row in session.scalars(
                select(Invocation).where(
                    Invocation.tenant_id == scene.tenant, Invocation.status == "missed"
                )
            )
        }
    deliveries = _deliveries(scene.sessions, scene.tenant)
    coalesced = "missed: coalesced into the run for 2026-03-02T10:03:00Z"
    assert [(d.project_id, d.hook_id, d.event, d.status) for d in deliveries] == [
        ("p1", "pager", "invocation.missed", "pending")
    ] * 3
    assert [d.payload for d in deliveries] == [
        {
            "event": "invocation.missed",
            "occurred_at": "2026-03-02T10:03:00Z",
            "tenant_id": scene.tenant,
            "project_id": "p1",
            "agent_id": AGENT,
            "trigger_id": "minutely",
            "invocation_id": invocation_id,
            "scheduled_for": instant,
            "detail": coalesced,
        }
        for invocation_id, instant in sorted(
            ((i, s.strftime("%Y-%m-%dT%H:%M:%SZ")) for i, s in missed.items()),
            key=lambda pair: pair[1],
        )
    ]


async def test_a_definition_held_as_unfireable_raises_trigger_disabled(scene: Scene) -> None:
    _hook(scene.sessions, scene.tenant, "p1", ["trigger.disabled"])
    add_triggers(
        scene.store,
        scene.branch,
        trigger("broken", cron="61 * * * *", next_run_at=AS_OF),
        replace(trigger("fine", next_run_at=AS_OF), version=2),
    )

    await scene.activities().dispatch(DispatchInput(generation=1, as_of=AS_OF))

    [delivery] = _deliveries(scene.sessions, scene.tenant)
    assert (delivery.event, delivery.dedupe_key) == (
        "trigger.disabled",
        f"trigger.disabled:{AGENT}/broken@1",
    )
    assert delivery.payload == {
        "event": "trigger.disabled",
        "occurred_at": AS_OF,
        "tenant_id": scene.tenant,
        "project_id": "p1",
        "agent_id": AGENT,
        "trigger_id": "broken",
        "invocation_id": None,
        "scheduled_for": None,
        "detail": "invalid schedule (cron_expression: minute field '61' is invalid (allowed 0-59))",
    }
