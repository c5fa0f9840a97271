"""A trigger's fields are defined once: the store's user columns, the create, PATCH and response
models all name the same fields, so adding one is one edit (plus its migration)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from manage_api.models import SERVER_MANAGED, Trigger
from manage_db.triggers import USER_FIELDS
from service.inputs import TriggerCreate, TriggerFields, TriggerPatch


def test_every_model_names_the_same_user_fields() -> None:
    assert tuple(TriggerFields.model_fields) == USER_FIELDS
    assert tuple(TriggerPatch.model_fields) == USER_FIELDS
    assert set(TriggerCreate.model_fields) == {*USER_FIELDS, "id"}
    assert set(Trigger.model_fields) == {*USER_FIELDS, "id", *SERVER_MANAGED}
    assert SERVER_MANAGED == (
        "agent_id", "skipped", "next_run_at", "last_scheduled_for", "version", "created_at",
        "updated_at", "schedule_description", "status", "completed_reason", "pause",
    )  # fmt: skip


def test_patch_takes_any_subset_and_null_only_where_a_create_allows_it() -> None:
    patch = TriggerPatch.model_validate_json('{"description": null, "max_retries": 5}')
    assert patch.model_fields_set == {"description", "max_retries"}
    with pytest.raises(ValidationError) as raised:
        TriggerPatch.model_validate_json(
            '{"name": null, "max_retries": 99, "cron_expression": "x"}'
        )
    assert [(e["loc"], e["msg"]) for e in raised.value.errors(include_url=False)] == [
        (("name",), "may not be null; omit the field to leave it unchanged"),
        (
            ("cron_expression",),
            "'x' has 1 fields; expected 5: minute hour day-of-month month day-of-week "
            "(no seconds or year field)",
        ),
        (("max_retries",), "Input should be less than or equal to 20"),
    ]
