"""The record of manage-store compactions, so operators can see when one ran and what it cost."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from runtime_db.models import StoreCompaction


def record_compaction(
    session: Session, *, started_at: datetime, bytes_before: int, bytes_after: int, pause_ms: int
) -> None:
    session.add(
        StoreCompaction(
            started_at=started_at,
            bytes_before=bytes_before,
            bytes_after=bytes_after,
            pause_ms=pause_ms,
        )
    )


def last_compaction(session: Session) -> StoreCompaction | None:
    return session.execute(
        select(StoreCompaction).order_by(StoreCompaction.id.desc()).limit(1)
    ).scalar_one_or_none()
