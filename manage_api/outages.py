"""Store outages answer 503 with `Retry-After`, and are logged once when they start and once
when they end, not with a traceback per request.

An outage is an error that says a store cannot be reached or used right now: SQLAlchemy's
`OperationalError`/`InterfaceError` (PostgreSQL down, connections refused or dropped) and
`sqlite3.OperationalError` from the manage store (its file unreadable, its lock not released
within the busy timeout). The first request that then succeeds ends the outage in the log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from manage_api.problems import problem_response

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    sqlite3.OperationalError,
)


class OutageLog:
    """Which stores are failing now; logs the edges of each outage."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down: set[str] = set()

    def failed(self, store: str, exc: BaseException) -> None:
        with self._lock:
            if store in self._down:
                return
            self._down.add(store)
        log.warning(
            "the %s is unavailable (%s); answering 503 until it returns",
            store,
            type(exc).__name__,
        )

    def recovered(self) -> None:
        with self._lock:
            if not self._down:
                return
            stores, self._down = sorted(self._down), set()
        for store in stores:
            log.warning("the %s is available again", store)


def _store_of(exc: BaseException) -> str:
    return "manage store" if isinstance(exc, sqlite3.OperationalError) else "runtime store"


def _outages(request: Request) -> OutageLog:
    found = getattr(request.app.state, "outages", None)
    if not isinstance(found, OutageLog):
        found = OutageLog()
        request.app.state.outages = found
    return found


async def handle_outage(request: Request, exc: Exception) -> Response:
    store = _store_of(exc)
    _outages(request).failed(store, exc)
    return problem_response(
        503,
        f"The {store} is unavailable; try again shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class OutageRecovery:
    """ASGI middleware: a request answered below 500 during an outage ends it in the log."""

    def __init__(self, app: ASGIApp, outages: OutageLog) -> None:
        self.app = app
        self.outages = outages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 500:
                self.outages.recovered()
            await send(message)

        await self.app(scope, receive, watch)
