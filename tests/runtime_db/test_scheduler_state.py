"""Generations per deployment and the singleton scheduler row: the newest generation wins."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from runtime_db.scheduler_state import (
    allocate_generation,
    current_state,
    is_current,
    record_tick,
    register,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _register(session: Session, generation: int, deployment: str) -> bool:
    return register(
        session,
        generation=generation,
        deployment_id=deployment,
        workflow_id=f"timekeeper-scheduler:{deployment}",
        run_id=f"run-{generation}",
        task_queue=f"timekeeper-{deployment}",
        now=NOW,
    )


def test_a_deployment_gets_one_generation_however_often_it_asks(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        first = allocate_generation(session, "d1", "timekeeper-scheduler:d1", "timekeeper-d1")
        second = allocate_generation(session, "d2", "timekeeper-scheduler:d2", "timekeeper-d2")
        again = allocate_generation(session, "d1", "timekeeper-scheduler:d1", "timekeeper-d1")
    assert (first.created, second.created, again.created) == (True, True, False)
    assert second.generation == first.generation + 1
    assert again.generation == first.generation


def test_the_newest_generation_wins_whatever_order_registrations_arrive_in(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        assert _register(session, 2, "d2") is True
    with session_factory.begin() as session:
        assert _register(session, 1, "d1") is False
    with session_factory() as session:
        state = current_state(session)
        assert state is not None
        assert (state.generation, state.deployment_id, state.run_id) == (2, "d2", "run-2")
        assert is_current(session, 2) is True
        assert is_current(session, 1) is False


def test_ticks_of_a_superseded_generation_are_not_recorded(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        _register(session, 3, "d3")
    with session_factory.begin() as session:
        assert record_tick(session, 3, NOW, {"due": 4}) is True
        assert record_tick(session, 2, NOW, {"due": 99}) is False
    with session_factory() as session:
        state = current_state(session)
        assert state is not None
        assert (state.last_tick_at, state.last_tick) == (NOW, {"due": 4})


def test_the_last_tick_instant_never_goes_back_when_ticks_end_out_of_order(
    session_factory: sessionmaker[Session],
) -> None:
    """A one-time trigger's dispatch at 12:00:02 can end before the 12:00 tick it ran beside:
    the state keeps 12:00:02 as the last tick, and the counters of the tick that ended last."""
    beside = NOW + timedelta(seconds=2)
    with session_factory.begin() as session:
        _register(session, 3, "d3")
    with session_factory.begin() as session:
        assert record_tick(session, 3, beside, {"due": 1}) is True
    with session_factory.begin() as session:
        assert record_tick(session, 3, NOW, {"due": 100}) is True
    with session_factory() as session:
        state = current_state(session)
        assert state is not None
        assert (state.last_tick_at, state.last_tick) == (beside, {"due": 100})
