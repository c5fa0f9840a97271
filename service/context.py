"""What the operations need, handed in once when a surface is built (no import-time globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from manage_db.store import ManageStore
from manage_db.timestamps import utc_now
from runner.templates import MAX_MESSAGE_BYTES


@dataclass
class ServiceContext:
    session_factory: sessionmaker[Session]
    store: ManageStore
    temporal: Client | None
    task_queue: str
    now: Callable[[], datetime] = field(default=utc_now)
    max_message_bytes: int = MAX_MESSAGE_BYTES
    tick_seconds: int = 60
