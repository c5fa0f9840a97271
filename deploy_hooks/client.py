"""The client CI runs after a deploy: call the restart hook, retrying what is transient (tenacity).

Exit statuses: 0 the scheduler was restarted (or already ran for this deployment), 1 it could
not be, 2 the command was misused (no secret, bad arguments).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RestartOutcome:
    ok: bool
    attempts: int
    message: str
    response: dict[str, Any] | None = None


class _Retryable(Exception):
    """An answer worth another attempt: the hook was unreachable or answered a transient status."""


def restart_scheduler(
    url: str,
    deployment_id: str,
    secret: str,
    *,
    attempts: int = 5,
    backoff_seconds: float = 1.0,
    timeout_seconds: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> RestartOutcome:
    """POST the hook until it answers 200, a non-retryable error, or attempts run out; the
    delay doubles from `backoff_seconds` between attempts."""
    endpoint = url.rstrip("/") + "/v1/deploy/restart-scheduler"
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_seconds),
        retry=retry_if_exception_type(_Retryable),
        sleep=sleep,
        reraise=True,
    )
    with httpx.Client(timeout=timeout_seconds, transport=transport) as client:

        def attempt() -> httpx.Response:
            try:
                response = client.post(
                    endpoint,
                    json={"deployment_id": deployment_id},
                    headers={"Authorization": f"Bearer {secret}"},
                )
            except httpx.TransportError as exc:
                raise _Retryable(f"cannot reach {endpoint}: {type(exc).__name__}") from exc
            if response.status_code in RETRYABLE_STATUSES:
                raise _Retryable(f"{endpoint} answered {response.status_code}: {_detail(response)}")
            return response

        try:
            response = retrying(attempt)
        except _Retryable as exc:
            return RestartOutcome(
                False, attempts, f"gave up after {attempts} attempts; last: {exc}"
            )
    made = retrying.statistics.get("attempt_number", 1)
    if response.status_code == 200:
        return RestartOutcome(True, made, "scheduler restarted", response.json())
    return RestartOutcome(
        False, made, f"{endpoint} answered {response.status_code}: {_detail(response)}"
    )


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:200]
    return str(body)[:200]
