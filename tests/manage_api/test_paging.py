"""Lists page with an opaque keyset cursor: stable while rows are added, `limit` bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runtime_db.invocations import InvocationKey, create_invocation
from tests.manage_api.conftest import TRIGGERS, WEB, Api, nightly

_START = datetime(2026, 3, 3, tzinfo=UTC)


def _add_invocations(api: Api, first: int, count: int, per_transaction: int = 50) -> list[str]:
    """`count` invocations of acme/web/bot/nightly, a batch per transaction (so created_at
    varies between batches and ties within one)."""
    ids = []
    for start in range(first, first + count, per_transaction):
        with api.ctx.session_factory.begin() as session:
            for n in range(start, min(start + per_transaction, first + count)):
                key = InvocationKey(
                    "acme", "web", "bot", "nightly", _START + timedelta(minutes=n), "scheduled"
                )
                row, _ = create_invocation(session, key, workflow_id=f"wf-{n}")
                ids.append(str(row.id))
    return ids


async def test_paging_invocations_while_more_arrive_sees_every_row_once(web: Api) -> None:
    original = _add_invocations(web, 0, 1000)
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 100}
    added = 0
    while True:
        page = await web.call("GET", WEB + "/invocations", params=params)
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        if added < 200:
            _add_invocations(web, 1000 + added, 20, per_transaction=20)
            added += 20
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        params = {"limit": 100, "cursor": cursor}
    assert added == 200
    assert len(seen) == len(set(seen)) == 1000
    assert set(seen) == set(original)


async def test_limits_and_cursors_are_checked(web: Api) -> None:
    too_many = await web.call("GET", WEB + "/invocations", params={"limit": 1001})
    bad_cursor = await web.call("GET", TRIGGERS, params={"cursor": "not-ours"})
    assert (too_many.status_code, too_many.json()["errors"]) == (
        422,
        [{"field": "limit", "message": "Input should be less than or equal to 1000"}],
    )
    assert (bad_cursor.status_code, bad_cursor.json()["errors"]) == (
        422,
        [{"field": "cursor", "message": "is not a cursor this list returned"}],
    )


async def test_trigger_lists_page_by_id(web: Api) -> None:
    for n in (3, 1, 2):
        created = await web.call("POST", TRIGGERS, json=nightly(id=f"t{n}"))
        assert created.status_code == 201
    first = (await web.call("GET", TRIGGERS, params={"limit": 2})).json()
    rest = (
        await web.call("GET", TRIGGERS, params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [t["id"] for t in first["items"]] == ["t1", "t2"]
    assert ([t["id"] for t in rest["items"]], rest["next_cursor"]) == (["t3"], None)
