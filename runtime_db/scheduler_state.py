"""Scheduler generations and the singleton `scheduler_state` row: newest generation wins.

Functions take a session and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from runtime_db.models import SchedulerGeneration, SchedulerState

_SINGLETON = 1


@dataclass(frozen=True)
class Allocation:
    generation: int
    deployment_id: str
    workflow_id: str
    task_queue: str
    run_id: str | None
    created: bool


def allocate_generation(
    session: Session, deployment_id: str, workflow_id: str, task_queue: str
) -> Allocation:
    """The generation for a deployment: a new, higher one the first time, the same one after."""
    inserted = session.execute(
        insert(SchedulerGeneration)
        .values(deployment_id=deployment_id, workflow_id=workflow_id, task_queue=task_queue)
        .on_conflict_do_nothing(index_elements=["deployment_id"])
        .returning(SchedulerGeneration.generation)
    ).scalar_one_or_none()
    row = session.execute(
        select(SchedulerGeneration).where(SchedulerGeneration.deployment_id == deployment_id)
    ).scalar_one()
    return Allocation(
        generation=row.generation,
        deployment_id=row.deployment_id,
        workflow_id=row.workflow_id,
        task_queue=row.task_queue,
        run_id=row.run_id,
        created=inserted is not None,
    )


def set_generation_run(session: Session, generation: int, run_id: str) -> None:
    session.execute(
        update(SchedulerGeneration)
        .where(SchedulerGeneration.generation == generation)
        .values(run_id=run_id)
    )


def current_state(session: Session) -> SchedulerState | None:
    return session.get(SchedulerState, _SINGLETON)


def register(
    session: Session,
    *,
    generation: int,
    deployment_id: str,
    workflow_id: str,
    run_id: str | None,
    task_queue: str,
    now: datetime,
) -> bool:
    """Take the singleton for `generation` unless a newer generation already holds it.

    An upsert whose update only applies when the stored generation is not newer, so two
    registrations racing in any order leave the newest in place.
    """
    values = {
        "id": _SINGLETON,
        "generation": generation,
        "deployment_id": deployment_id,
        "workflow_id": workflow_id,
        "run_id": run_id,
        "task_queue": task_queue,
        "registered_at": now,
    }
    inserting = insert(SchedulerState).values(**values)
    statement = inserting.on_conflict_do_update(
        index_elements=["id"],
        set_={k: inserting.excluded[k] for k in values if k != "id"},
        where=SchedulerState.generation <= inserting.excluded.generation,
    ).returning(SchedulerState.generation)
    return session.execute(statement).scalar_one_or_none() is not None


def is_current(session: Session, generation: int) -> bool:
    state = current_state(session)
    return state is not None and state.generation == generation


def record_tick(session: Session, generation: int, at: datetime, counters: dict[str, Any]) -> bool:
    """Persist the last tick's counters; ignored for a superseded generation. `last_tick_at`
    never goes back: a one-time trigger's tick may end before the minute's tick it ran beside."""
    state = SchedulerState
    result = session.execute(
        update(state)
        .where(state.id == _SINGLETON, state.generation == generation)
        .values(
            last_tick_at=func.greatest(state.last_tick_at, at),  # GREATEST skips a NULL
            last_tick=counters,
        )
    )
    return int(getattr(result, "rowcount", 0)) == 1


def generation_before(session: Session, generation: int) -> int | None:
    """The newest generation allocated before `generation`: the one it supersedes."""
    return session.execute(
        select(func.max(SchedulerGeneration.generation)).where(
            SchedulerGeneration.generation < generation
        )
    ).scalar_one_or_none()


def started_generations_before(session: Session, generation: int) -> list[SchedulerGeneration]:
    """Older generations that were started (have a run id), oldest first."""
    return list(
        session.execute(
            select(SchedulerGeneration)
            .where(
                SchedulerGeneration.generation < generation,
                SchedulerGeneration.run_id.is_not(None),
            )
            .order_by(SchedulerGeneration.generation)
        ).scalars()
    )


@dataclass(frozen=True)
class Stall:
    """A registered scheduler silent for more than 3 tick periods."""

    generation: int
    last_tick_at: datetime
    reason: str


def stall_of(session: Session, now: datetime, tick_seconds: int) -> Stall | None:
    """The registered scheduler's stall, or None while it ticks (or none is registered)."""
    state = current_state(session)
    if state is None:
        return None
    last = state.last_tick_at or state.registered_at
    silence = now - last
    if silence <= timedelta(seconds=3 * tick_seconds):
        return None
    stamp = last.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Stall(
        generation=state.generation,
        last_tick_at=last,
        reason=(
            f"the scheduler (generation {state.generation}) has not ticked since {stamp}:"
            f" {int(silence.total_seconds())} s, more than 3 ticks of {tick_seconds} s"
        ),
    )
