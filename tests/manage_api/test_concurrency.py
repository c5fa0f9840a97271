"""Optimistic concurrency: responses carry `ETag: "<version>"`; a stale If-Match gets 412 and
changes nothing; two writers racing on one version cannot both win."""

from __future__ import annotations

import asyncio

from tests.manage_api.conftest import TRIGGERS, Api, nightly

NIGHTLY = TRIGGERS + "/nightly"


async def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    await web.call("PATCH", NIGHTLY, json={"name": "v2"}, headers={"If-Match": '"1"'})
    before, log = (await web.call("GET", NIGHTLY)).json(), web.log()

    stale = await web.call("PATCH", NIGHTLY, json={"name": "v3"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"2"'
    assert stale.json() == {
        "type": "about:blank",
        "title": "Precondition Failed",
        "status": 412,
        "detail": "If-Match does not match the current version (2); nothing was changed.",
    }
    assert (await web.call("GET", NIGHTLY)).json() == before
    assert web.log() == log


async def test_a_current_if_match_is_accepted(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    for if_match in ('"1"', '"0", "2"', "*"):
        response = await web.call(
            "PATCH", NIGHTLY, json={"name": if_match}, headers={"If-Match": if_match}
        )
        assert response.status_code == 200, if_match
    assert response.json()["version"] == 4


async def test_weak_etags_do_not_match(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    response = await web.call("PATCH", NIGHTLY, json={"name": "x"}, headers={"If-Match": 'W/"1"'})
    assert response.status_code == 412


async def test_delete_enable_disable_and_revert_honour_if_match(web: Api) -> None:
    created = await web.call("POST", TRIGGERS, json=nightly())
    await web.call("PATCH", NIGHTLY, json={"name": "v2"})
    stale = {"If-Match": '"1"'}
    assert (await web.call("DELETE", NIGHTLY, headers=stale)).status_code == 412
    assert (await web.call("POST", NIGHTLY + "/disable", headers=stale)).status_code == 412
    commit = (await web.call("GET", NIGHTLY + "/history")).json()["items"][-1]["commit"]
    revert = await web.call("POST", NIGHTLY + "/revert", json={"commit": commit}, headers=stale)
    assert revert.status_code == 412
    assert (await web.call("GET", NIGHTLY)).json()["version"] == 2
    assert created.status_code == 201
    assert (await web.call("DELETE", NIGHTLY, headers={"If-Match": '"2"'})).status_code == 204


async def test_two_writers_on_one_version_one_wins(web: Api) -> None:
    await web.call("POST", TRIGGERS, json=nightly())
    responses = await asyncio.gather(
        web.call("PATCH", NIGHTLY, json={"name": "alice"}, headers={"If-Match": '"1"'}),
        web.call("PATCH", NIGHTLY, json={"name": "bob"}, headers={"If-Match": '"1"'}),
    )
    assert sorted(r.status_code for r in responses) == [200, 412]
    winner = next(r for r in responses if r.status_code == 200).json()
    assert (await web.call("GET", NIGHTLY)).json() == winner
    assert winner["version"] == 2
