"""Alert hooks and their deliveries. Functions take a session and never commit.

A delivery row is written in the same transaction as the event it reports (the failed
invocation's close, the `missed` rows of a dispatch), so an event is never noticed without its
alert, nor alerted without having happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from runtime_db.models import AlertDelivery, AlertHook

EVENTS = ("invocation.failed", "invocation.missed", "trigger.disabled", "scheduler.stalled")


@dataclass(frozen=True)
class AlertEvent:
    """Something a hook may want to hear of. `tenant_id`/`project_id` None: every project's
    hooks (the scheduler is shared by all)."""

    event: str
    dedupe_key: str
    payload: dict[str, Any]
    tenant_id: str | None = None
    project_id: str | None = None


def put_hook(
    session: Session,
    tenant_id: str,
    project_id: str,
    hook_id: str,
    *,
    url: str,
    events: list[str],
    secret_env: str | None,
    now: datetime,
) -> tuple[AlertHook, bool]:
    """Create or replace a hook; returns it and whether it is new."""
    existing = get_hook(session, tenant_id, project_id, hook_id)
    if existing is None:
        hook = AlertHook(
            tenant_id=tenant_id,
            project_id=project_id,
            id=hook_id,
            url=url,
            events=events,
            secret_env=secret_env,
            created_at=now,
            updated_at=now,
        )
        session.add(hook)
        session.flush()
        return hook, True
    if (existing.url, existing.events, existing.secret_env) != (url, events, secret_env):
        existing.url, existing.events, existing.secret_env = url, events, secret_env
        existing.updated_at = now
        session.flush()
    return existing, False


def get_hook(session: Session, tenant_id: str, project_id: str, hook_id: str) -> AlertHook | None:
    return session.get(AlertHook, (tenant_id, project_id, hook_id))


def list_hooks(session: Session, tenant_id: str, project_id: str) -> list[AlertHook]:
    return list(
        session.scalars(
            select(AlertHook)
            .where(AlertHook.tenant_id == tenant_id, AlertHook.project_id == project_id)
            .order_by(AlertHook.id)
        )
    )


def delete_hook(session: Session, tenant_id: str, project_id: str, hook_id: str) -> bool:
    """Delete a hook and its delivery record; False when there was none."""
    deleted = session.execute(
        delete(AlertHook).where(
            AlertHook.tenant_id == tenant_id,
            AlertHook.project_id == project_id,
            AlertHook.id == hook_id,
        )
    )
    session.execute(
        delete(AlertDelivery).where(
            AlertDelivery.tenant_id == tenant_id,
            AlertDelivery.project_id == project_id,
            AlertDelivery.hook_id == hook_id,
        )
    )
    return bool(getattr(deleted, "rowcount", 0))


def delete_project_hooks(session: Session, tenant_id: str, project_id: str) -> None:
    for hook in list_hooks(session, tenant_id, project_id):
        delete_hook(session, tenant_id, project_id, hook.id)


def enqueue(session: Session, events: Sequence[AlertEvent], now: datetime) -> int:
    """A pending delivery for every hook that listens to each event; a repeat (same hook and
    `dedupe_key`) adds nothing. Returns how many deliveries are new."""
    if not events:
        return 0
    projects = {(e.tenant_id, e.project_id) for e in events if e.tenant_id is not None}
    query = select(AlertHook)
    if all(e.tenant_id is not None for e in events):
        query = query.where(tuple_(AlertHook.tenant_id, AlertHook.project_id).in_(projects))
    hooks = list(session.scalars(query))
    rows = []
    for event in events:
        for hook in hooks:
            if event.event not in hook.events:
                continue
            if event.tenant_id is not None and (hook.tenant_id, hook.project_id) != (
                event.tenant_id,
                event.project_id,
            ):
                continue
            payload = {**event.payload, "tenant_id": hook.tenant_id, "project_id": hook.project_id}
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": hook.tenant_id,
                    "project_id": hook.project_id,
                    "hook_id": hook.id,
                    "event": event.event,
                    "dedupe_key": event.dedupe_key,
                    "payload": payload,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
            )
    inserted = 0
    for start in range(0, len(rows), 1000):
        result = session.execute(
            insert(AlertDelivery).values(rows[start : start + 1000]).on_conflict_do_nothing()
        )
        inserted += int(getattr(result, "rowcount", 0) or 0)
    return inserted


def unstarted_deliveries(session: Session, limit: int) -> list[uuid.UUID]:
    """Deliveries whose workflow has not been started yet, oldest first."""
    return list(
        session.scalars(
            select(AlertDelivery.id)
            .where(AlertDelivery.workflow_started_at.is_(None))
            .order_by(AlertDelivery.created_at)
            .limit(limit)
        )
    )


def mark_started(session: Session, ids: Sequence[uuid.UUID], now: datetime) -> None:
    if ids:
        session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id.in_(ids), AlertDelivery.workflow_started_at.is_(None))
            .values(workflow_started_at=now)
        )


def get_delivery(session: Session, delivery_id: uuid.UUID) -> AlertDelivery | None:
    return session.get(AlertDelivery, delivery_id)


def record_attempt(
    session: Session,
    delivery_id: uuid.UUID,
    *,
    delivered: bool,
    http_status: int | None,
    error: str | None,
    now: datetime,
) -> None:
    """Count one post; a success ends the delivery."""
    values: dict[str, object] = {
        "attempts": AlertDelivery.attempts + 1,
        "http_status": http_status,
        "last_error": error,
    }
    if delivered:
        values.update(status="delivered", finished_at=now)
    session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id, AlertDelivery.status == "pending")
        .values(**values)
    )


def give_up(session: Session, delivery_id: uuid.UUID, error: str, now: datetime) -> None:
    """No more retries: the delivery ends `failed` with the last error."""
    session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id, AlertDelivery.status == "pending")
        .values(status="failed", last_error=error, finished_at=now)
    )


def deliveries_of(
    session: Session, tenant_id: str, project_id: str, hook_id: str, limit: int
) -> list[AlertDelivery]:
    """A hook's deliveries, newest first."""
    return list(
        session.scalars(
            select(AlertDelivery)
            .where(
                AlertDelivery.tenant_id == tenant_id,
                AlertDelivery.project_id == project_id,
                AlertDelivery.hook_id == hook_id,
            )
            .order_by(AlertDelivery.created_at.desc(), AlertDelivery.id.desc())
            .limit(limit)
        )
    )
