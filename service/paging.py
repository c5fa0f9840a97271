"""Keyset paging: a page ends with an opaque cursor naming the last row's sort key.

The next page starts strictly after that key, so rows added meanwhile never shift a page: no row
is shown twice and none is skipped (offset paging does both while rows arrive).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from service.errors import invalid

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*key: str) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> tuple[str, ...]:
    """The key `encode_cursor` wrote; InvalidFields naming `cursor` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != parts
        or not all(isinstance(part, str) for part in key)
    ):
        raise invalid("cursor", "is not a cursor this list returned")
    return tuple(key)


def page_of(rows: list[T], limit: int, key_of: Callable[[T], tuple[str, ...]]) -> Page[T]:
    """`rows` holds up to limit + 1 rows: the extra one only says that another page exists."""
    if len(rows) > limit:
        return Page(rows[:limit], encode_cursor(*key_of(rows[limit - 1])))
    return Page(rows, None)
