"""Connections to the doltlite file, and the unit of work that ends each write in a Dolt commit.

Data-access functions elsewhere take a `sqlite3.Connection` and never commit; the caller opens a
`ManageStore.write(...)` block, which owns the SQL transaction and the Dolt commit that ends it.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import manage_db  # noqa: F401  (doltlite bootstrap before sqlite3 is used)
from manage_db.branches import SCHEMA_BRANCH

_AUTHOR_UNSAFE = re.compile(r"[^A-Za-z0-9._:@-]")


class BranchNotFound(LookupError):
    def __init__(self, branch: str) -> None:
        super().__init__(f"branch not found: {branch}")
        self.branch = branch


@dataclass
class Write:
    """An open write on one branch; `message` may be refined before the block ends."""

    conn: sqlite3.Connection
    branch: str
    author: str
    message: str
    commit_hash: str | None = None


def author_signature(principal: str) -> str:
    """`Name <email>` as Dolt wants it, from a principal that may hold any characters."""
    name = _AUTHOR_UNSAFE.sub("-", principal)[:100] or "unknown"
    return f"{name} <{name}@timekeeper>"


class ManageStore:
    """One doltlite repository file; cheap to construct, opens a connection per unit of work."""

    def __init__(self, path: Path | str, busy_timeout_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_seconds = busy_timeout_seconds
        self._kept = threading.local()

    def connect(self, branch: str = SCHEMA_BRANCH) -> sqlite3.Connection:
        """A connection in autocommit mode, positioned on `branch`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            timeout=self.busy_timeout_seconds,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        if (
            branch != SCHEMA_BRANCH
            or conn.execute("select active_branch()").fetchone()[0] != branch
        ):
            try:
                conn.execute("select dolt_checkout(?)", (branch,))
            except sqlite3.OperationalError as exc:
                conn.close()
                if "no such branch" in str(exc) or "not found" in str(exc):
                    raise BranchNotFound(branch) from exc
                raise
        return conn

    @contextmanager
    def read(self, branch: str = SCHEMA_BRANCH) -> Iterator[sqlite3.Connection]:
        conn = self.connect(branch)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def read_at(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads that name their revision (`dolt_at_*`), kept open by each
        thread: the runner reads a trigger and its agent at the branch head for every run, and
        opening a connection cost more than both reads (BENCHMARKS.md). In autocommit mode each
        statement sees the latest commit, so a kept connection reads what a new one would; one
        that failed is closed and the next read opens another.
        """
        conn: sqlite3.Connection | None = getattr(self._kept, "conn", None)
        if conn is None:
            conn = self._kept.conn = self.connect()
        try:
            yield conn
        except BaseException:
            self._kept.conn = None
            conn.close()
            raise

    @contextmanager
    def write(self, branch: str, *, author: str, message: str) -> Iterator[Write]:
        """One SQL transaction closed by one Dolt commit; nothing is committed if the block raises.

        A block that changed nothing makes no commit (`commit_hash` stays None).
        """
        conn = self.connect(branch)
        unit = Write(conn=conn, branch=branch, author=author, message=message)
        try:
            conn.execute("begin immediate")
            try:
                yield unit
            except BaseException:
                conn.execute("rollback")
                raise
            result = conn.execute(
                "select dolt_commit('-A', '--skip-empty', '-m', ?, '--author', ?)",
                (unit.message, author_signature(author)),
            ).fetchone()[0]
            unit.commit_hash = result if isinstance(result, str) and len(result) == 40 else None
            if conn.in_transaction:
                conn.execute("commit")
        finally:
            conn.close()


def branch_heads(conn: sqlite3.Connection) -> dict[str, str]:
    """Every branch and its head commit, in one query: the dispatcher's idle-tick cost."""
    return {row[0]: row[1] for row in conn.execute("select name, hash from dolt_branches")}


def branch_head(conn: sqlite3.Connection, branch: str) -> str | None:
    """The head commit of one branch, or None when it does not exist."""
    row = conn.execute("select hash from dolt_branches where name = ?", (branch,)).fetchone()
    return str(row[0]) if row else None


def create_branch(conn: sqlite3.Connection, branch: str, start: str = SCHEMA_BRANCH) -> None:
    """Refs are durable at once in doltlite, even inside a transaction."""
    conn.execute("select dolt_branch(?, ?)", (branch, start))


def delete_branch(conn: sqlite3.Connection, branch: str) -> None:
    conn.execute("select dolt_branch('-D', ?)", (branch,))
