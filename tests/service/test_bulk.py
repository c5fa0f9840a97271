"""A bulk upsert validates every item before writing any, and names each bad field by index."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.bulk import upsert_triggers
from service.errors import FieldError, InvalidFields
from service.inputs import BulkTriggers, PageQuery
from service.triggers import list_project_triggers
from tests.service.conftest import ALICE, Svc


def _item(trigger_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": trigger_id,
        "agent_id": "bot",
        "name": trigger_id,
        "cron_expression": "0 * * * *",
        "message_template": "tick",
        **overrides,
    }


def _bulk(*items: dict[str, Any]) -> BulkTriggers:
    return BulkTriggers.model_validate_json(json.dumps({"triggers": list(items)}))


def test_every_bad_item_is_named_and_nothing_is_written(web: Svc) -> None:
    body = _bulk(
        _item("a"),
        _item("b", agent_id="ghost"),
        _item("c", run_at="2026-04-01T00:00:00Z"),
        _item("a"),
    )
    with pytest.raises(InvalidFields) as raised:
        upsert_triggers(web.ctx, ALICE, body)
    assert raised.value.errors == [FieldError("triggers.3.id", "repeats triggers.0.id")]

    with pytest.raises(InvalidFields) as raised:
        upsert_triggers(web.ctx, ALICE, _bulk(*body.model_dump(mode="json")["triggers"][:3]))
    both = "exactly one of cron_expression and run_at must be set; both are"
    assert raised.value.errors == [
        FieldError("triggers.1.agent_id", "agent ghost not found"),
        FieldError("triggers.2.cron_expression", both),
        FieldError("triggers.2.run_at", both),
    ]
    assert list_project_triggers(web.ctx, ALICE, PageQuery()).items == []


def test_a_repeat_changes_only_what_differs(web: Svc) -> None:
    first = upsert_triggers(web.ctx, ALICE, _bulk(_item("a"), _item("b")))
    second = upsert_triggers(web.ctx, ALICE, _bulk(_item("a"), _item("b", name="B")))
    assert (first.created, first.updated, first.unchanged) == (["a", "b"], [], [])
    assert (second.created, second.updated, second.unchanged) == ([], ["b"], ["a"])
    assert [(row.id, row.version) for row in second.items] == [("a", 1), ("b", 2)]
