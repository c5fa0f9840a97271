"""Hostile input gets a 4xx naming what is wrong, and costs nothing: control and bidirectional
override characters in text a person reads, bodies over the limit, methods a route lacks."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest

from manage_api.inputs import MAX_BODY_BYTES
from tests.manage_api.conftest import TRIGGERS, WEB, Api, nightly
from timekeeper.app import create_app

_LINE = "must not contain control or bidirectional override characters"
_TEXT = (
    "must not contain control characters (other than newline and tab) or bidirectional "
    "override characters"
)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "Nightly\x00"}, "name", _LINE),
        ({"name": "Night\u202eyl"}, "name", _LINE),
        ({"name": "two\nlines"}, "name", _LINE),
        ({"description": "bell\x07"}, "description", _TEXT),
        ({"description": "isolate \u2067x\u2069"}, "description", _TEXT),
    ],
)
async def test_text_with_control_or_bidi_characters_is_refused(
    web: Api, body: dict[str, str], field: str, message: str
) -> None:
    response = await web.call("POST", TRIGGERS, json=nightly(**body))
    assert (response.status_code, response.json()["errors"]) == (
        422,
        [{"field": field, "message": message}],
    )


async def test_descriptions_keep_newlines_and_tabs(web: Api) -> None:
    response = await web.call("POST", TRIGGERS, json=nightly(description="line 1\n\tline 2"))
    assert response.status_code == 201
    assert response.json()["description"] == "line 1\n\tline 2"


async def test_project_names_are_checked_alike(api: Api) -> None:
    response = await api.call(
        "POST", "/v1/tenants/acme/projects", json={"id": "web", "name": "W\u202aeb"}
    )
    assert (response.status_code, [e["field"] for e in response.json()["errors"]]) == (
        422,
        ["name"],
    )


async def test_a_body_declared_too_large_is_refused_before_it_is_read(web: Api) -> None:
    """The ASGI app is called directly: what it pulled from `receive` shows it read nothing."""
    pulled: list[bytes] = []
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        pulled.append(b"x" * 1024)
        return {"type": "http.request", "body": pulled[-1], "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    declared = str(200 * 1024 * 1024).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": TRIGGERS,
        "raw_path": TRIGGERS.encode(),
        "query_string": b"",
        "headers": [
            (b"authorization", web.auth()["Authorization"].encode()),
            (b"content-type", b"application/json"),
            (b"content-length", declared),
        ],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    await create_app(web.ctx)(scope, receive, send)
    assert sent[0]["status"] == 413
    assert pulled == []


async def test_a_streamed_body_is_cut_at_the_limit(web: Api) -> None:
    chunks_sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        for _ in range(1000):
            chunks_sent += 1
            yield b" " * 64 * 1024

    response = await web.call("POST", TRIGGERS, content=body())
    assert (response.status_code, response.json()["detail"]) == (
        413,
        f"The body exceeds {MAX_BODY_BYTES} bytes.",
    )
    assert chunks_sent < 1000 // 4


async def test_a_method_the_route_lacks_is_a_405_with_allow(web: Api) -> None:
    response = await web.call("PUT", WEB)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert set(response.headers["allow"].split(", ")) == {"DELETE", "GET", "HEAD"}
