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
from collections.abc import AsyncIterator, Callable, Iterator
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


_OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


@dataclass
class ClosingAgent:
    """A real TCP server speaking just enough HTTP/1.1 to keep connections alive. It answers 200,
    except where `answers(connection, nth)` says no: then it reads the request and closes the
    connection without a byte of response. It answers no request before `hold_until` requests
    have arrived (in all), which a burst needs to be in flight at once."""

    answers: Callable[[int, int], bool] = lambda connection, nth: True
    hold_until: int = 0
    # (connection number, request number on it, Idempotency-Key), in arrival order
    received: list[tuple[int, int, str]] = field(default_factory=list)
    _connections: int = 0
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def connections(self) -> int:
        return self._connections

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = self._connections
        self._connections += 1
        nth = 0
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                nth += 1
                headers = dict(
                    line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if line
                )
                await reader.readexactly(int(headers["Content-Length"]))
                self.received.append((connection, nth, headers["Idempotency-Key"]))
                async with self._arrived:
                    self._arrived.notify_all()
                    await self._arrived.wait_for(lambda: len(self.received) >= self.hold_until)
                if not self.answers(connection, nth):
                    break
                writer.write(_OK)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


@pytest_asyncio.fixture
async def closing_agent() -> AsyncIterator[tuple[ClosingAgent, str]]:
    agent = ClosingAgent()
    server = await asyncio.start_server(agent.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield agent, f"http://127.0.0.1:{port}/hook"
