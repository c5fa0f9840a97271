"""A write on the manage store is one SQL transaction closed by exactly one Dolt commit."""

import sqlite3

import pytest

from manage_db.agents import read_agent_at
from manage_db.compaction import compact
from manage_db.store import ManageStore, branch_heads, create_branch


def _log(store: ManageStore, branch: str) -> list[tuple[str, str, str]]:
    with store.read(branch) as conn:
        return [tuple(r) for r in conn.execute("select committer, email, message from dolt_log")]


def test_a_write_is_one_commit_with_its_author_and_message(manage_store: ManageStore) -> None:
    with manage_store.read() as conn:
        create_branch(conn, "acme/web/main")
    before = len(_log(manage_store, "acme/web/main"))

    with manage_store.write("acme/web/main", author="alice", message="create agent a1") as unit:
        unit.conn.execute(
            "insert into agents values ('a1', 'A', 'http://x', 'webhook', null, 't', 't')"
        )

    log = _log(manage_store, "acme/web/main")
    assert len(log) == before + 1
    assert log[0] == ("alice", "alice@timekeeper", "create agent a1")
    assert unit.commit_hash is not None
    with manage_store.read() as conn:
        assert branch_heads(conn)["acme/web/main"] == unit.commit_hash


def test_a_failed_write_leaves_no_rows_and_no_commit(manage_store: ManageStore) -> None:
    with manage_store.read() as conn:
        create_branch(conn, "acme/web/main")
    before = _log(manage_store, "acme/web/main")

    with (
        pytest.raises(RuntimeError),
        manage_store.write("acme/web/main", author="alice", message="boom") as unit,
    ):
        unit.conn.execute("insert into agents values ('a1', 'A', 'u', 'webhook', null, 't', 't')")
        raise RuntimeError("handler failed half-way")

    assert _log(manage_store, "acme/web/main") == before
    with manage_store.read("acme/web/main") as conn:
        assert conn.execute("select count(*) from agents").fetchone()[0] == 0


def test_a_write_that_changes_nothing_makes_no_commit(manage_store: ManageStore) -> None:
    before = _log(manage_store, "main")
    with manage_store.write("main", author="alice", message="nothing") as unit:
        unit.conn.execute("select count(*) from triggers").fetchone()
    assert unit.commit_hash is None
    assert _log(manage_store, "main") == before


def test_author_names_are_sanitised_for_dolt(manage_store: ManageStore) -> None:
    with manage_store.write("main", author="Evil <x@y> name", message="m") as unit:
        unit.conn.execute("update schema_version set version = version where id = 1")
        unit.conn.execute("insert into projects values ('p', 't', 'n', null, 'a', 'b')")
    assert _log(manage_store, "main")[0] == ("Evil--x@y--name", "Evil--x@y--name@timekeeper", "m")


def _agent_name(conn: sqlite3.Connection, branch: str) -> str | None:
    agent = read_agent_at(conn, branch, "a1")
    return agent.name if agent else None


def test_a_kept_read_connection_sees_every_later_commit_and_survives_compaction(
    manage_store: ManageStore,
) -> None:
    with manage_store.read() as conn:
        create_branch(conn, "acme/web/main")
    with manage_store.read_at() as first:
        assert _agent_name(first, "acme/web/main") is None

    for name in ("A", "B", "C"):
        with manage_store.write("acme/web/main", author="alice", message=name) as unit:
            unit.conn.execute("delete from agents where id = 'a1'")
            unit.conn.execute(
                "insert into agents values ('a1', ?, 'http://x', 'webhook', null, 't', 't')",
                (name,),
            )
        with manage_store.read_at() as kept:
            assert kept is first
            assert _agent_name(kept, "acme/web/main") == name

    compact(manage_store)
    with manage_store.read_at() as kept:
        assert kept is first
        assert _agent_name(kept, "acme/web/main") == "C"


def test_a_read_that_fails_closes_the_kept_connection(manage_store: ManageStore) -> None:
    with manage_store.read_at() as first:
        pass
    with pytest.raises(sqlite3.OperationalError), manage_store.read_at() as conn:
        conn.execute("select * from no_such_table")
    with manage_store.read_at() as second:
        assert second is not first
        assert second.execute("select count(*) from agents").fetchone()[0] == 0
