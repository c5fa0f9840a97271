"""Trigger operations as the service layer answers them: rows, domain errors, commits, and the
runtime side of a committed change, with no HTTP in between."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from manage_db.timestamps import utc_now
from runtime_db.invocations import InvocationKey, create_invocation
from runtime_db.models import Invocation
from service.context import ServiceContext
from service.errors import Conflict, FieldError, InvalidFields, NotFound, PreconditionFailed
from service.inputs import PageQuery, TriggerPatch, UpcomingQuery
from service.scope import Scope
from service.trigger_history import upcoming_instants
from service.triggers import (
    create_trigger,
    delete_trigger,
    get_trigger_of,
    list_agent_triggers,
    patch_trigger,
    set_enabled,
)
from tests.service.conftest import ALICE, Svc, nightly


def _log(svc: Svc) -> list[tuple[str, str]]:
    with svc.ctx.store.read() as conn:
        rows = conn.execute("select committer, message from dolt_log(?)", ("acme/web/main",))
        return [(row[0], row[1]) for row in rows]


def test_create_computes_next_run_and_commits_as_the_caller(web: Svc) -> None:
    row, created = create_trigger(web.ctx, ALICE, nightly())
    assert created is True
    assert (row.id, row.agent_id, row.version) == ("nightly", "bot", 1)
    assert row.next_run_at == "2026-03-03T01:30:00Z"  # 02:30 in Berlin (UTC+1)
    assert (row.created_at, row.updated_at) == ("2026-03-02T12:00:30Z", "2026-03-02T12:00:30Z")
    assert _log(web)[0] == ("alice", "create trigger nightly")


def test_an_identical_repeat_answers_the_row_and_a_different_one_conflicts(web: Svc) -> None:
    first, _ = create_trigger(web.ctx, ALICE, nightly())
    again, created = create_trigger(web.ctx, ALICE, nightly())
    assert (again, created) == (first, False)
    with pytest.raises(Conflict, match=r"^Trigger nightly already exists with other fields\.$"):
        create_trigger(web.ctx, ALICE, nightly(name="Other"))


def test_a_missing_agent_or_project_is_not_found(web: Svc) -> None:
    with pytest.raises(NotFound, match=r"^Agent ghost not found\.$"):
        create_trigger(web.ctx, Scope("alice", "acme", "web", "ghost"), nightly())
    with pytest.raises(NotFound, match=r"^Project nope not found\.$"):
        create_trigger(web.ctx, Scope("alice", "acme", "nope", "bot"), nightly())


def test_invalid_combinations_name_every_field(web: Svc) -> None:
    with pytest.raises(InvalidFields) as raised:
        create_trigger(web.ctx, ALICE, nightly(run_at="2026-04-01T00:00:00Z"))
    message = "exactly one of cron_expression and run_at must be set; both are"
    assert raised.value.errors == [
        FieldError("cron_expression", message),
        FieldError("run_at", message),
    ]
    assert _log(web)[0] == ("alice", "create agent bot")  # nothing was committed


def test_a_stale_version_fails_the_precondition_and_names_the_current_one(web: Svc) -> None:
    create_trigger(web.ctx, ALICE, nightly())
    scope = web.trigger("nightly")
    set_enabled(web.ctx, scope, frozenset({1}), False)
    with pytest.raises(PreconditionFailed) as raised:
        patch_trigger(web.ctx, scope, frozenset({1}), TriggerPatch.model_validate({"name": "X"}))
    assert raised.value.current_version == 2
    assert get_trigger_of(web.ctx, scope).name == "Nightly report"


def test_disabling_cancels_pending_runs_after_the_commit(web: Svc) -> None:
    create_trigger(web.ctx, ALICE, nightly())
    key = InvocationKey(
        "acme", "web", "bot", "nightly", datetime(2026, 3, 3, 1, 30, tzinfo=UTC), "scheduled"
    )
    with web.ctx.session_factory.begin() as session:
        create_invocation(session, key, workflow_id="wf-1")

    row = set_enabled(web.ctx, web.trigger("nightly"), None, False)

    assert (row.enabled, row.next_run_at, row.version) == (False, None, 2)
    with web.ctx.session_factory() as session:
        invocation = session.execute(select(Invocation)).scalar_one()
    assert (invocation.status, invocation.status_reason) == ("cancelled", "disable trigger nightly")
    assert _log(web)[0] == ("alice", "disable trigger nightly")


def test_delete_removes_the_trigger_and_a_second_delete_is_not_found(web: Svc) -> None:
    create_trigger(web.ctx, ALICE, nightly())
    delete_trigger(web.ctx, web.trigger("nightly"), None)
    with pytest.raises(NotFound, match=r"^Trigger nightly not found\.$"):
        delete_trigger(web.ctx, web.trigger("nightly"), None)


def test_trigger_lists_page_by_id_and_see_each_trigger_once(web: Svc) -> None:
    for index in range(7):
        create_trigger(web.ctx, ALICE, nightly(id=f"t{index}"))
    seen: list[str] = []
    cursor = None
    while True:
        page = list_agent_triggers(web.ctx, ALICE, PageQuery(limit=3, cursor=cursor))
        seen += [row.id for row in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        create_trigger(web.ctx, ALICE, nightly(id=f"a{len(seen)}"))  # sorts before: not shown
    assert seen == [f"t{index}" for index in range(7)]
    with pytest.raises(InvalidFields) as raised:
        list_agent_triggers(web.ctx, ALICE, PageQuery(cursor="garbage"))
    assert raised.value.errors == [FieldError("cursor", "is not a cursor this list returned")]


def test_the_default_clock_is_the_wall_clock(web: Svc) -> None:
    """Without an injected clock, `upcoming` starts now and a past run_at is refused."""
    real = ServiceContext(web.ctx.session_factory, web.ctx.store, None, "unused")
    create_trigger(real, ALICE, nightly(cron_expression="0 * * * *", cron_timezone="UTC"))
    with freeze_time("2026-07-01T10:15:00Z"):
        assert utc_now() == datetime(2026, 7, 1, 10, 15, tzinfo=UTC)
        found = upcoming_instants(real, web.trigger("nightly"), UpcomingQuery(count=2))
        with pytest.raises(InvalidFields) as raised:
            create_trigger(real, ALICE, nightly(id="once", cron_expression=None,
                                                run_at="2026-07-01T10:14:59Z"))  # fmt: skip
    assert [o.instant for o in found.occurrences] == [
        datetime(2026, 7, 1, 11, tzinfo=UTC),
        datetime(2026, 7, 1, 12, tzinfo=UTC),
    ]
    assert raised.value.errors == [FieldError("run_at", "must be in the future")]


def test_a_template_whose_messages_exceed_the_cap_is_refused_naming_the_size(web: Svc) -> None:
    """1,200 references to a 50,000-character value: each part within its own limit."""
    body = nightly(message_template="{{payload.x}}" * 1200, payload={"x": "a" * 50_000})
    with pytest.raises(InvalidFields) as raised:
        create_trigger(web.ctx, ALICE, body)
    assert raised.value.errors == [
        FieldError(
            "message_template",
            "the rendered message is 60000000 bytes, over the cap of 262144 bytes",
        )
    ]
    with pytest.raises(NotFound):
        get_trigger_of(web.ctx, web.trigger("nightly"))
