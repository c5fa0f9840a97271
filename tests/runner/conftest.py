"""A real HTTP agent for delivery tests: uvicorn on 127.0.0.1 in a background thread.

Each test scripts the agent's replies (status, body, headers, delay, drip) and then reads back
exactly what the agent received, including whether the client hung up on it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class Reply:
    """One scripted response. `drip` sends the body one byte per `drip` seconds."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedAgent:
    """An ASGI endpoint answering each request with the next scripted Reply (default: 200)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.disconnected = threading.Event()
        self._script: list[Reply] = []
        self._lock = threading.Lock()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def _next(self) -> Reply:
        with self._lock:
            return self._script.pop(0) if self._script else Reply()

    async def wait_disconnect(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.disconnected.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.disconnected.is_set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        self.requests.append(Received(scope["method"], scope["path"], headers, body))
        responder = asyncio.create_task(self._respond(self._next(), send))
        # With the body read, the next receive() returns only when the client goes away or
        # the response is complete: that tells an aborted call from a finished one.
        watcher: asyncio.Future[Any] = asyncio.ensure_future(receive())
        await asyncio.wait({responder, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if responder.done():
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher
            responder.result()
            return
        responder.cancel()
        with suppress(asyncio.CancelledError):
            await responder
        self.disconnected.set()

    async def _respond(self, reply: Reply, send: Send) -> None:
        await asyncio.sleep(reply.delay)
        content = reply.encoded()
        headers = [(b"content-length", str(len(content)).encode())]
        headers += [(key.lower().encode(), value.encode()) for key, value in reply.headers.items()]
        if not any(key == b"content-type" for key, _ in headers):
            headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if not reply.drip:
            await send({"type": "http.response.body", "body": content})
            return
        for index in range(len(content)):
            await send(
                {
                    "type": "http.response.body",
                    "body": content[index : index + 1],
                    "more_body": True,
                }
            )
            await asyncio.sleep(reply.drip)
        await send({"type": "http.response.body", "body": b""})


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve `app` on a free 127.0.0.1 port until the block ends; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="test-agent", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test agent server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def agent() -> ScriptedAgent:
    return ScriptedAgent()


@pytest.fixture
def agent_url(agent: ScriptedAgent) -> Iterator[str]:
    with serve(Starlette(routes=[Route("/{path:path}", endpoint=agent)])) as url:
        yield url


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a port nothing listens on (just released by the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as shared:
        yield shared
