"""What the API's handlers need, handed in once when the app is built (no import-time globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from manage_db.store import ManageStore


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApiContext:
    session_factory: sessionmaker[Session]
    store: ManageStore
    temporal: Client | None
    task_queue: str
    now: Callable[[], datetime] = field(default=utc_now)
