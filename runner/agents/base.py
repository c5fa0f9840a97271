"""What every delivery shares: the request/result types, headers, the bounded POST, and how
an HTTP outcome maps to "retry or give up".

Delivery never raises for a failed delivery: the runner records every attempt, so each outcome
(including a misconfigured agent) comes back as a DeliveryResult the workflow can store and act on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from importlib import metadata
from typing import Any

import httpx

from runner.models import Delivery
from telemetry.metrics import DELIVERY_RESENDS

EXCERPT_CHARS = 2000
# A body beyond this is not read further: enough for any sane agent reply, bounded for a rogue one.
MAX_BODY_BYTES = 1 << 20
log = logging.getLogger(__name__)
_DELAY_SECONDS = re.compile(r"\d+(\.\d+)?")


@dataclass(frozen=True)
class DeliveryRequest(Delivery):
    """One attempt: what every attempt of the invocation sends, and this attempt's number.

    `auth_header_env` names the worker's environment variable whose value is sent verbatim as
    `Authorization`.
    """

    attempt: int = 1


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    retryable: bool
    http_status: int | None
    duration_ms: int
    # timeout | connection_error | http_5xx | http_408 | http_429 | http_4xx | invalid_response
    # | config_error; None when ok.
    error_class: str | None
    error_message: str | None
    response_excerpt: str | None  # the body, cut to EXCERPT_CHARS
    retry_after_seconds: float | None = None


# Inspects a 2xx body (possibly cut at MAX_BODY_BYTES, flagged by the bool); returns a reason
# to reject it as invalid_response, or None to accept it.
BodyCheck = Callable[[DeliveryRequest, bytes, bool], str | None]


class ConfigError(Exception):
    """The agent definition or environment is wrong; retrying cannot help."""


@cache
def user_agent() -> str:
    try:
        version = metadata.version("timekeeper")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"timekeeper/{version}"


def trigger_ref(request: DeliveryRequest) -> dict[str, str]:
    return {
        "tenant_id": request.tenant_id,
        "project_id": request.project_id,
        "agent_id": request.agent_id,
        "trigger_id": request.trigger_id,
        "name": request.trigger_name,
    }


def build_headers(request: DeliveryRequest) -> dict[str, str]:
    """Headers for one attempt. Error messages name the env var, never its value."""
    headers = {
        "Idempotency-Key": request.invocation_id,
        "User-Agent": user_agent(),
        "Content-Type": "application/json",
    }
    name = request.auth_header_env
    if name:
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"environment variable {name} (auth_header_env) is not set")
        if not value.isascii() or not value.isprintable():
            raise ConfigError(
                f"environment variable {name} (auth_header_env) is not a header value"
            )
        headers["Authorization"] = value
    return headers


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date."""
    text = (value or "").strip()
    if not text:
        return None
    if _DELAY_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _result(
    started: float,
    error_class: str | None = None,
    message: str | None = None,
    *,
    retryable: bool = False,
    status: int | None = None,
    excerpt: str | None = None,
    retry_after: float | None = None,
) -> DeliveryResult:
    """A result stamped with the elapsed time; no error_class means delivered."""
    return DeliveryResult(
        ok=error_class is None,
        retryable=retryable,
        http_status=status,
        duration_ms=round((time.monotonic() - started) * 1000),
        error_class=error_class,
        error_message=message[:EXCERPT_CHARS] if message is not None else None,
        response_excerpt=excerpt,
        retry_after_seconds=retry_after,
    )


def config_error(started: float, message: str) -> DeliveryResult:
    return _result(started, "config_error", message)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _read_bounded(response: httpx.Response) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"".join(chunks)[:MAX_BODY_BYTES], True
    return b"".join(chunks), False


def _excerpt(response: httpx.Response, raw: bytes) -> str | None:
    try:
        text = raw.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:
        text = raw.decode("utf-8", errors="replace")
    return text[:EXCERPT_CHARS] or None


async def _exchange(
    client: httpx.AsyncClient, http_request: httpx.Request, request: DeliveryRequest
) -> tuple[httpx.Response, bytes, bool]:
    """Send the request and read its response, resending once a request lost to a closed
    keep-alive connection.

    An agent may close an idle connection just as it is reused (uvicorn and Node close them
    after 5 s idle, httpx keeps them 5 s), and the request then fails before any response. Such a
    failure on a reused connection is sent once more, at once, on another connection (a new one
    unless the pool has another idle), with the same Idempotency-Key: the case in which Go's
    net/http resends a POST too. A failure on a new connection is the agent's own and is not
    resent.
    """
    opened: list[str] = []

    async def _trace(name: str, info: dict[str, Any]) -> None:
        if name == "connection.connect_tcp.started":
            opened.append(name)

    http_request.extensions["trace"] = _trace
    try:
        response = await client.send(http_request, stream=True)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        if opened:
            raise
        log.info(
            "invocation %s attempt %d: resent after %s on a reused connection",
            request.invocation_id,
            request.attempt,
            _describe(exc),
        )
        DELIVERY_RESENDS.inc()
        response = await client.send(http_request, stream=True)
    try:
        raw, truncated = await _read_bounded(response)
    finally:
        await response.aclose()
    return response, raw, truncated


async def post_json(
    client: httpx.AsyncClient,
    request: DeliveryRequest,
    body: dict[str, Any],
    check: BodyCheck | None = None,
) -> DeliveryResult:
    """POST `body` once, bounded by `timeout_seconds` overall, and classify the outcome.

    httpx's per-phase timeouts alone let a server that drips one byte per second hold the call
    forever; the outer asyncio.timeout cancels it, and closing an unfinished response closes
    its connection rather than returning it to the pool.
    """
    started = time.monotonic()
    try:
        if not request.timeout_seconds > 0:
            raise ConfigError(f"timeout_seconds must be positive, got {request.timeout_seconds}")
        http_request = client.build_request(
            "POST",
            request.url,
            content=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
            headers=build_headers(request),
            timeout=httpx.Timeout(request.timeout_seconds),
        )
    except ConfigError as exc:
        return config_error(started, str(exc))
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return config_error(started, _describe(exc))
    try:
        async with asyncio.timeout(request.timeout_seconds):
            response, raw, truncated = await _exchange(client, http_request, request)
    except (TimeoutError, httpx.TimeoutException):
        message = f"no complete response within {request.timeout_seconds:g}s"
        return _result(started, "timeout", message, retryable=True)
    except httpx.UnsupportedProtocol as exc:
        return config_error(started, _describe(exc))
    except (httpx.DecodingError, httpx.TooManyRedirects) as exc:
        return _result(started, "invalid_response", _describe(exc))
    except httpx.RequestError as exc:
        return _result(started, "connection_error", _describe(exc), retryable=True)
    return _classify(started, request, response, raw, truncated, check)


def _classify(
    started: float,
    request: DeliveryRequest,
    response: httpx.Response,
    raw: bytes,
    truncated: bool,
    check: BodyCheck | None,
) -> DeliveryResult:
    """408, 429 and 5xx may pass; other 4xx will not; a 2xx may still carry a protocol error."""
    status = response.status_code
    summary = f"HTTP {status} {response.reason_phrase}".rstrip()
    retry_after = (
        parse_retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
    )

    def done(error_class: str | None = None, message: str | None = None) -> DeliveryResult:
        retryable = error_class in ("http_408", "http_429", "http_5xx")
        excerpt = _excerpt(response, raw)
        return _result(
            started,
            error_class,
            message,
            retryable=retryable,
            status=status,
            excerpt=excerpt,
            retry_after=retry_after,
        )

    if 200 <= status < 300:
        problem = check(request, raw, truncated) if check is not None else None
        return done() if problem is None else done("invalid_response", problem)
    if status in (408, 429):
        return done(f"http_{status}", summary)
    if 500 <= status < 600:
        return done("http_5xx", summary)
    if 400 <= status < 500:
        return done("http_4xx", summary)
    return done("invalid_response", f"unexpected {summary}")
