"""Alert tests: a real local endpoint that records what it is sent, and answers as told."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.runner.conftest import serve


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class AlertReceiver:
    """Answers each POST with the next of `statuses` (200 once they run out); with `hang` set,
    holds every request until `release` is set."""

    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle(self, request: Request) -> Response:
        self.received.append(Received(await request.body(), dict(request.headers)))
        self.arrived.set()
        if self.hang:
            await asyncio.to_thread(self.release.wait, 60)
        status = self.statuses.pop(0) if self.statuses else 200
        return Response(status_code=status)


@pytest.fixture
def receiver() -> AlertReceiver:
    return AlertReceiver()


@pytest.fixture
def receiver_url(receiver: AlertReceiver) -> Iterator[str]:
    with serve(Starlette(routes=[Route("/alerts", receiver.handle, methods=["POST"])])) as url:
        try:
            yield url + "/alerts"
        finally:
            receiver.release.set()
