"""The dispatcher's advance: one compare-and-set statement for many triggers, where a trigger
whose row moved since dispatch read it keeps the newer row."""

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from runtime_db.schedules import (
    Advance,
    Definition,
    advance_all,
    all_schedules,
    apply_definitions,
    due_batch,
    earliest_next_runs,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NEXT = datetime(2026, 3, 2, 10, 5, tzinfo=UTC)


def _definition(trigger_id: str, version: int = 1) -> Definition:
    return Definition(
        tenant_id="t1",
        project_id="p1",
        trigger_id=trigger_id,
        agent_id="a1",
        version=version,
        schedule_key=f"cron */5 * * * * UTC v{version}",
        enabled=True,
        cron_expression="*/5 * * * *",
        cron_timezone="UTC",
        run_at=None,
        misfire_grace_seconds=60,
        catchup="latest",
        next_run_at=NOW,
        last_scheduled_for=datetime(2026, 3, 2, 9, 55, tzinfo=UTC),
        invalid_reason=None,
    )


def _rows(session_factory: sessionmaker[Session]) -> dict[str, tuple[object, ...]]:
    with session_factory() as session:
        return {
            row.trigger_id: (
                row.next_run_at,
                row.last_scheduled_for,
                row.run_count,
                row.invalid_reason,
                row.completed_reason,
            )
            for row in all_schedules(session)
        }


def test_advance_all_writes_the_triggers_whose_rows_are_as_read_and_skips_one_edited_since(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as session:
        apply_definitions(session, "t1", "p1", [_definition(n) for n in ("a", "b", "c")], NOW)
    with session_factory() as session:
        due = {d.trigger_id: d for d in due_batch(session, NOW, per_project=10, limit=10).schedules}
    with session_factory.begin() as session:
        apply_definitions(
            session, "t1", "p1", [_definition("a"), _definition("b", 2), _definition("c")], NOW
        )

    with session_factory.begin() as session:
        won = advance_all(
            session,
            [
                Advance(due["a"], next_run_at=NEXT, last_scheduled_for=NOW, runs=1),
                Advance(due["b"], next_run_at=NEXT, last_scheduled_for=NOW, runs=1),
                Advance(
                    due["c"],
                    next_run_at=None,
                    last_scheduled_for=None,
                    runs=0,
                    invalid_reason="cron no longer parses",
                ),
            ],
            NOW,
        )

    earlier = datetime(2026, 3, 2, 9, 55, tzinfo=UTC)
    assert won == {("t1", "p1", "a"), ("t1", "p1", "c")}
    assert _rows(session_factory) == {
        "a": (NEXT, NOW, 1, None, None),
        "b": (NOW, earlier, 0, None, None),
        "c": (None, earlier, 0, "cron no longer parses", None),
    }


def test_advance_all_of_nothing_writes_nothing(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        assert advance_all(session, [], NOW) == set()


def test_earliest_next_runs_are_the_earliest_enabled_instant_and_the_earliest_after_one(
    session_factory: sessionmaker[Session],
) -> None:
    earlier = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    definitions = [
        _definition("a"),
        replace(_definition("b"), next_run_at=NEXT),
        replace(_definition("off"), enabled=False, next_run_at=earlier),
    ]
    with session_factory.begin() as session:
        apply_definitions(session, "t1", "p1", definitions, NOW)
    with session_factory() as session:
        assert earliest_next_runs(session, NOW) == (NOW, NEXT)
        assert earliest_next_runs(session, earlier) == (NOW, NOW)
        assert earliest_next_runs(session, NEXT) == (NOW, None)
