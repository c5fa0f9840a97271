"""Runtime tables: high-churn operational rows that do not belong in version history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class SchedulerState(Base):
    """The one registered scheduler: a singleton row (id = 1) owned by the newest generation."""

    __tablename__ = "scheduler_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False)
    deployment_id: Mapped[str] = mapped_column(String(200), nullable=False)
    workflow_id: Mapped[str] = mapped_column(String(300), nullable=False)
    run_id: Mapped[str | None] = mapped_column(String(100))
    task_queue: Mapped[str] = mapped_column(String(300), nullable=False)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_tick_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_tick: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class SchedulerGeneration(Base):
    """One row per deployment that asked for a scheduler; the identity is the generation."""

    __tablename__ = "scheduler_generations"

    generation: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    workflow_id: Mapped[str] = mapped_column(String(300), nullable=False)
    run_id: Mapped[str | None] = mapped_column(String(100))
    task_queue: Mapped[str] = mapped_column(String(300), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class TriggerSchedule(Base):
    """Where a trigger stands in its schedule: the state the dispatcher moves every tick.

    Definitions live on the project branches of the manage store; this row copies what dispatch
    needs from the definition version it was synced from (so the due path never reads Dolt) and
    holds what moves (`next_run_at`, `last_scheduled_for`, `run_count`), which carries nothing a
    user wants in version history.
    """

    __tablename__ = "trigger_schedules"
    __table_args__ = (
        Index(
            "trigger_schedules_due",
            "next_run_at",
            postgresql_where=text("enabled AND next_run_at IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    trigger_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(200), nullable=False)
    definition_version: Mapped[int] = mapped_column(Integer, nullable=False)
    # Fingerprint of the schedule-defining fields: when it changes, the position is re-taken.
    schedule_key: Mapped[str] = mapped_column(String(64), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    cron_expression: Mapped[str | None] = mapped_column(Text)
    cron_timezone: Mapped[str] = mapped_column(Text, nullable=False)
    run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    misfire_grace_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    catchup: Mapped[str] = mapped_column(String(10), nullable=False, default="latest")
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    run_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Why a stored definition cannot be fired (it is then never due); None when it can.
    invalid_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Scheduling controls copied from the definition (see `manage_db.next_run.decide_due`).
    jitter_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_runs: Mapped[int | None] = mapped_column(Integer)
    skipped: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    # Why an enabled trigger has nothing left to fire (window closed, run limit reached, fired
    # once); None while it has.
    completed_reason: Mapped[str | None] = mapped_column(Text)


class BranchSync(Base):
    """The head commit each project branch's definitions were last synced into schedule state."""

    __tablename__ = "branch_syncs"

    branch: Mapped[str] = mapped_column(Text, primary_key=True)
    head: Mapped[str] = mapped_column(String(64), nullable=False)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class StoreCompaction(Base):
    """One compaction (`dolt_gc`) of the manage store: when, how much, how long writes waited."""

    __tablename__ = "store_compactions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    bytes_before: Mapped[int] = mapped_column(BigInteger, nullable=False)
    bytes_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    pause_ms: Mapped[int] = mapped_column(Integer, nullable=False)


class Invocation(Base):
    """One delivery of one trigger for one scheduled instant (or one manual run)."""

    __tablename__ = "invocations"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "project_id",
            "agent_id",
            "trigger_id",
            "scheduled_for",
            "kind",
            name="invocations_key",
        ),
        Index(
            "invocations_trigger_created",
            "tenant_id",
            "project_id",
            "agent_id",
            "trigger_id",
            text("created_at DESC"),
        ),
        Index(
            "invocations_open",
            "status",
            "started_at",
            postgresql_where=text("status IN ('pending', 'running')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(63), nullable=False)
    project_id: Mapped[str] = mapped_column(String(63), nullable=False)
    agent_id: Mapped[str] = mapped_column(String(63), nullable=False)
    trigger_id: Mapped[str] = mapped_column(String(63), nullable=False)
    scheduled_for: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # scheduled | manual | rerun
    workflow_id: Mapped[str] = mapped_column(String(400), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    status_reason: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    trigger_version: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the run begins: `scheduled_for` plus the trigger's jitter offset, or the instant of a
    # run the dispatch started ahead of it (None: at once).
    fire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    attempts: Mapped[list[InvocationAttempt]] = relationship(
        back_populates="invocation", order_by="InvocationAttempt.attempt_number"
    )


class InvocationAttempt(Base):
    __tablename__ = "invocation_attempts"
    __table_args__ = (UniqueConstraint("invocation_id", "attempt_number", name="attempts_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    invocation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("invocations.id", ondelete="CASCADE"), nullable=False
    )
    attempt_number: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # succeeded | failed
    http_status: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    error_class: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)

    invocation: Mapped[Invocation] = relationship(back_populates="attempts")


class AlertHook(Base):
    """A project's alert webhook: which events are posted where, signed with which secret."""

    __tablename__ = "alert_hooks"

    tenant_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    events: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    # The name of an environment variable of the worker holding the HMAC secret (never the secret).
    secret_env: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class AlertDelivery(Base):
    """One event for one hook: written in the transaction that noticed the event (an outbox),
    then posted by its own workflow. `dedupe_key` makes noticing the same event twice harmless."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "project_id", "hook_id", "dedupe_key", name="alert_deliveries_key"
        ),
        Index(
            "alert_deliveries_unstarted",
            "created_at",
            postgresql_where=text("workflow_started_at IS NULL"),
        ),
        Index(
            "alert_deliveries_hook", "tenant_id", "project_id", "hook_id", text("created_at DESC")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(63), nullable=False)
    project_id: Mapped[str] = mapped_column(String(63), nullable=False)
    hook_id: Mapped[str] = mapped_column(String(63), nullable=False)
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    workflow_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """Only the SHA-256 of a key is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(20), nullable=False)
    principal: Mapped[str] = mapped_column(String(200), nullable=False)
    tenant_id: Mapped[str | None] = mapped_column(String(63))
    is_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
