"""The client CI runs after a deploy: call the restart hook, retrying what is transient.

Exit statuses: 0 the scheduler was restarted (or already ran for this deployment), 1 it could
not be, 2 the command was misused (no secret, bad arguments).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RestartOutcome:
    ok: bool
    attempts: int
    message: str
    response: dict[str, Any] | None = None


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
    """POST the hook until it answers 200, a non-retryable error, or attempts run out."""
    endpoint = url.rstrip("/") + "/v1/deploy/restart-scheduler"
    last = "no attempt made"
    with httpx.Client(timeout=timeout_seconds, transport=transport) as client:
        for attempt in range(1, attempts + 1):
            try:
                response = client.post(
                    endpoint,
                    json={"deployment_id": deployment_id},
                    headers={"Authorization": f"Bearer {secret}"},
                )
            except httpx.TransportError as exc:
                last = f"cannot reach {endpoint}: {type(exc).__name__}"
            else:
                if response.status_code == 200:
                    return RestartOutcome(True, attempt, "scheduler restarted", response.json())
                last = f"{endpoint} answered {response.status_code}: {_detail(response)}"
                if response.status_code not in RETRYABLE_STATUSES:
                    return RestartOutcome(False, attempt, last)
            if attempt < attempts:
                sleep(backoff_seconds * 2 ** (attempt - 1))
    return RestartOutcome(False, attempts, f"gave up after {attempts} attempts; last: {last}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:200]
    return str(body)[:200]
