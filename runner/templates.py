"""Message templates: `{{variable}}` substitution with a fixed set of names, nothing else.

Templates are written by users and stored with the trigger, so rendering must never execute
anything: one regex finds `{{ name }}`, and each name is looked up in a closed table or walked
as a dot path into the trigger's JSON payload. Substituted text is never scanned again, so a
payload value that looks like a template stays literal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from manage_db.timestamps import to_db

__all__ = [
    "KNOWN_VARIABLES",
    "MAX_MESSAGE_BYTES",
    "MessageTooLarge",
    "TemplateContext",
    "TemplateError",
    "check_message_size",
    "render",
    "rendered_size",
    "template_variables",
    "validate_template",
]

# The largest message a run delivers (UTF-8 bytes): templates that can exceed it are refused
# when saved, and a run whose message would is failed without an attempt to deliver it.
MAX_MESSAGE_BYTES = 256 * 1024
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PAYLOAD_PREFIX = "payload."
KNOWN_VARIABLES = (
    "scheduled_for",
    "scheduled_for_local",
    "trigger.id",
    "trigger.name",
    "invocation.id",
    "payload.<path>",
)


class TemplateError(ValueError):
    """A template that cannot be saved or rendered; `variables` names the offending references.

    It subclasses ValueError so callers treat it as bad input: at save time a 4xx, at delivery
    time a non-retryable failure (retrying cannot make a missing payload key appear).
    """

    def __init__(self, message: str, variables: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.variables = variables


@dataclass(frozen=True)
class TemplateContext:
    """Everything a template may see about one invocation."""

    scheduled_for: datetime
    timezone: str
    trigger_id: str
    trigger_name: str
    invocation_id: str
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scheduled_for.tzinfo is None or self.scheduled_for.utcoffset() is None:
            raise ValueError("scheduled_for must be timezone-aware")


def template_variables(template: str) -> list[str]:
    """The variable names referenced by `template`, in first-use order, without duplicates."""
    return list(dict.fromkeys(match.group(1) for match in _VARIABLE.finditer(template)))


def _payload_path(name: str) -> list[str] | None:
    """The segments of a `payload.a.b.0` reference, or None when `name` is not one."""
    if not name.startswith(_PAYLOAD_PREFIX):
        return None
    segments = name[len(_PAYLOAD_PREFIX) :].split(".")
    if any(not segment or any(ch.isspace() for ch in segment) for segment in segments):
        return None
    return segments


def _is_known(name: str) -> bool:
    return name in _SIMPLE or _payload_path(name) is not None


def _braced(names: list[str]) -> str:
    return ", ".join("{{" + name + "}}" for name in names)


def validate_template(template: str) -> None:
    """Reject every unknown variable at once, so a user fixes the template in one round trip."""
    unknown = [name for name in template_variables(template) if not _is_known(name)]
    if unknown:
        raise TemplateError(
            f"unknown template variable(s): {_braced(unknown)}; "
            f"known: {', '.join(KNOWN_VARIABLES)}",
            unknown,
        )


def _utc_text(context: TemplateContext) -> str:
    return to_db(context.scheduled_for)


def _local_text(context: TemplateContext) -> str:
    try:
        zone = ZoneInfo(context.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TemplateError(
            f"unknown timezone {context.timezone!r} for {{{{scheduled_for_local}}}}",
            ["scheduled_for_local"],
        ) from exc
    local = context.scheduled_for.astimezone(zone).replace(microsecond=0)
    return local.isoformat()


_SIMPLE: dict[str, Callable[[TemplateContext], str]] = {
    "scheduled_for": _utc_text,
    "scheduled_for_local": _local_text,
    "trigger.id": lambda context: context.trigger_id,
    "trigger.name": lambda context: context.trigger_name,
    "invocation.id": lambda context: context.invocation_id,
}

_MISSING = object()


def _lookup(payload: Any, segments: list[str]) -> Any:
    """Walk a JSON value; digits index lists, anything else keys objects."""
    current = payload
    for segment in segments:
        if isinstance(current, dict) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = current[int(segment)]
        else:
            return _MISSING
    return current


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Values:
    """Each variable's text for one context, computed once however often the template uses it;
    a payload path the payload lacks is collected in `missing`."""

    def __init__(self, context: TemplateContext) -> None:
        self._context = context
        self._texts: dict[str, str] = {}
        self.missing: list[str] = []

    def text(self, name: str) -> str:
        if name not in self._texts:
            self._texts[name] = self._compute(name)
        return self._texts[name]

    def _compute(self, name: str) -> str:
        simple = _SIMPLE.get(name)
        if simple is not None:
            return simple(self._context)
        segments = _payload_path(name)
        value = _lookup(self._context.payload, segments) if segments is not None else _MISSING
        if value is _MISSING:
            self.missing.append(name)
            return ""
        return _as_text(value)

    def check(self) -> None:
        if self.missing:
            raise TemplateError(f"payload has no value at {_braced(self.missing)}", self.missing)


def render(template: str, context: TemplateContext) -> str:
    """Substitute every variable; unknown names or absent payload paths raise TemplateError."""
    validate_template(template)
    values = _Values(context)
    rendered = _VARIABLE.sub(lambda match: values.text(match.group(1)), template)
    values.check()
    return rendered


def rendered_size(template: str, context: TemplateContext) -> int:
    """The UTF-8 size `render` would produce, without building the message: a template can
    name a large payload value many times, and its size is checked before anything renders.

    Every variable but the payload has a fixed width, so for a trigger's own payload this is
    the size of every one of its messages.
    """
    validate_template(template)
    values = _Values(context)
    size = 0
    position = 0
    for match in _VARIABLE.finditer(template):
        size += len(template[position : match.start()].encode())
        size += len(values.text(match.group(1)).encode())
        position = match.end()
    size += len(template[position:].encode())
    values.check()
    return size


class MessageTooLarge(ValueError):
    """A rendered message over the cap: never delivered, never retried."""

    def __init__(self, size: int, cap: int) -> None:
        super().__init__(f"the rendered message is {size} bytes, over the cap of {cap} bytes")
        self.size = size
        self.cap = cap


def check_message_size(template: str, context: TemplateContext, cap: int) -> None:
    size = rendered_size(template, context)
    if size > cap:
        raise MessageTooLarge(size, cap)
