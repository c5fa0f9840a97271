"""Message templates: a closed set of variables, plain substitution, errors that name names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from runner.templates import (
    MessageTooLarge,
    TemplateContext,
    TemplateError,
    check_message_size,
    render,
    rendered_size,
    template_variables,
    validate_template,
)

PAYLOAD = {
    "customer": {"name": "Ada", "tags": ["vip", "beta"], "address": {"city": "Zürich"}},
    "count": 3,
    "ratio": 0.5,
    "active": True,
    "nothing": None,
    "window": {"days": [1, 2], "label": "week"},
}


def context(**overrides: object) -> TemplateContext:
    values: dict[str, object] = {
        "scheduled_for": datetime(2025, 3, 10, 13, 0, tzinfo=UTC),
        "timezone": "America/New_York",
        "trigger_id": "daily-report",
        "trigger_name": "Daily report",
        "invocation_id": "inv-123",
        "payload": PAYLOAD,
    }
    values.update(overrides)
    return TemplateContext(**values)  # type: ignore[arg-type]


def test_renders_every_fixed_variable() -> None:
    template = (
        "{{scheduled_for}} | {{scheduled_for_local}} | {{trigger.id}} | "
        "{{trigger.name}} | {{invocation.id}}"
    )
    assert render(template, context()) == (
        "2025-03-10T13:00:00Z | 2025-03-10T09:00:00-04:00 | daily-report | Daily report | inv-123"
    )


def test_scheduled_for_local_follows_the_trigger_timezone_across_dst() -> None:
    winter = context(scheduled_for=datetime(2025, 1, 15, 14, 30, tzinfo=UTC))
    assert render("{{scheduled_for_local}}", winter) == "2025-01-15T09:30:00-05:00"
    utc = context(timezone="UTC")
    assert render("{{scheduled_for_local}}", utc) == "2025-03-10T13:00:00+00:00"


def test_scheduled_for_is_rendered_in_utc_whatever_offset_it_carries() -> None:
    tokyo = timezone(timedelta(hours=9))
    moment = context(scheduled_for=datetime(2025, 3, 10, 22, 0, 0, 999, tzinfo=tokyo))
    assert render("{{scheduled_for}}", moment) == "2025-03-10T13:00:00Z"


def test_whitespace_inside_braces_is_allowed() -> None:
    assert render("{{ trigger.id }}/{{  invocation.id}}", context()) == "daily-report/inv-123"


def test_payload_paths_walk_objects_and_list_indexes() -> None:
    template = "{{payload.customer.name}} {{payload.customer.tags.1}} {{payload.window.days.0}}"
    assert render(template, context()) == "Ada beta 1"


def test_payload_non_string_values_render_as_compact_json() -> None:
    template = (
        "{{payload.count}} {{payload.ratio}} {{payload.active}} {{payload.nothing}} "
        "{{payload.customer.tags}} {{payload.window}} {{payload.customer.address.city}}"
    )
    assert render(template, context()) == (
        '3 0.5 true null ["vip","beta"] {"days":[1,2],"label":"week"} Zürich'
    )


def test_substituted_text_is_never_expanded_again() -> None:
    sneaky = context(payload={"note": "{{trigger.id}} {{payload.note}}"})
    assert render("say {{payload.note}}", sneaky) == "say {{trigger.id}} {{payload.note}}"


def test_text_without_variables_is_untouched() -> None:
    text = "Plain text with {single} braces, {{ and an unclosed one"
    assert render(text, context()) == text


def test_template_variables_lists_names_in_first_use_order_once() -> None:
    template = "{{ payload.a.0 }} {{trigger.id}} {{payload.a.0}} {{foo}}"
    assert template_variables(template) == ["payload.a.0", "trigger.id", "foo"]


def test_validate_accepts_every_known_variable() -> None:
    validate_template(
        "{{scheduled_for}} {{scheduled_for_local}} {{trigger.id}} {{trigger.name}} "
        "{{invocation.id}} {{payload.x}} {{payload.items.0.name}}"
    )


def test_validate_rejects_unknown_variables_naming_each_of_them() -> None:
    with pytest.raises(TemplateError) as caught:
        validate_template("{{foo}} {{trigger.id}} {{trigger.secret}} {{ payload }} {{payload.}}")
    assert caught.value.variables == ["foo", "trigger.secret", "payload", "payload."]
    assert caught.value.message.startswith(
        "unknown template variable(s): {{foo}}, {{trigger.secret}}, {{payload}}, {{payload.}};"
    )
    assert isinstance(caught.value, ValueError)


def test_render_rejects_unknown_variables_too() -> None:
    with pytest.raises(TemplateError) as caught:
        render("hello {{ user.email }}", context())
    assert caught.value.variables == ["user.email"]


def test_render_rejects_a_payload_path_that_does_not_exist() -> None:
    template = (
        "{{payload.customer.email}} {{payload.customer.tags.2}} "
        "{{payload.customer.name.0}} {{payload.count.x}}"
    )
    with pytest.raises(TemplateError) as caught:
        render(template, context())
    assert caught.value.variables == [
        "payload.customer.email",
        "payload.customer.tags.2",
        "payload.customer.name.0",
        "payload.count.x",
    ]
    assert caught.value.message == (
        "payload has no value at {{payload.customer.email}}, {{payload.customer.tags.2}}, "
        "{{payload.customer.name.0}}, {{payload.count.x}}"
    )


def test_an_unknown_timezone_is_a_template_error_not_a_crash() -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{scheduled_for_local}}", context(timezone="Mars/Olympus"))
    assert caught.value.variables == ["scheduled_for_local"]


def test_context_requires_an_aware_scheduled_for() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        context(scheduled_for=datetime(2025, 3, 10, 13, 0))


def test_rendered_size_is_the_size_of_the_rendered_message_without_rendering_it() -> None:
    context = TemplateContext(
        scheduled_for=datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        timezone="Europe/Paris",
        trigger_id="t1",
        trigger_name="Répétition",
        invocation_id="00000000-0000-0000-0000-000000000000",
        payload={"a": {"b": [1, "ü"]}, "s": "ß" * 10},
    )
    for template in (
        "",
        "plain",
        "{{scheduled_for}} / {{scheduled_for_local}} {{trigger.name}}",
        "{{payload.a}} {{payload.s}}{{payload.s}} {{ invocation.id }} é",
    ):
        assert rendered_size(template, context) == len(render(template, context).encode())


def test_the_message_size_check_names_the_size_and_the_cap() -> None:
    context = TemplateContext(
        scheduled_for=datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        timezone="UTC",
        trigger_id="t1",
        trigger_name="n",
        invocation_id="i",
        payload={"x": "a" * 50_000},
    )
    check_message_size("{{payload.x}}", context, 50_000)
    with pytest.raises(MessageTooLarge) as raised:
        check_message_size("{{payload.x}}" * 1200, context, 262_144)
    assert str(raised.value) == (
        "the rendered message is 60000000 bytes, over the cap of 262144 bytes"
    )
