"""Compaction of the doltlite file: `dolt_gc` drops the chunks no branch or commit reaches.

Each commit rewrites doltlite's branch list, so the file grows with every user edit; nothing else
reclaims that space. While `dolt_gc` runs it holds the file's write lock: other writers wait on
their busy timeout (none fails), which is why it runs off the tick path and rarely.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from manage_db.store import ManageStore


@dataclass(frozen=True)
class Compacted:
    bytes_before: int
    bytes_after: int
    pause_ms: int  # how long the collection held the store
    summary: str  # doltlite's own account ("N chunks removed, M chunks kept")


def store_bytes(store: ManageStore) -> int:
    """The manage file's size on disk (0 before it exists)."""
    try:
        return store.path.stat().st_size
    except FileNotFoundError:
        return 0


def compact(store: ManageStore) -> Compacted:
    before = store_bytes(store)
    with store.read() as conn:
        clock = time.monotonic()
        row = conn.execute("select dolt_gc()").fetchone()
        pause_ms = round((time.monotonic() - clock) * 1000)
    return Compacted(before, store_bytes(store), pause_ms, str(row[0]) if row else "")
