"""Agent delivery clients. `deliver` picks the protocol named by the agent definition.

Callers pass one long-lived httpx.AsyncClient, so connections are pooled across deliveries.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx

from runner.agents.a2a import a2a_body, deliver_a2a
from runner.agents.base import (
    DeliveryRequest,
    DeliveryResult,
    config_error,
    parse_retry_after,
    user_agent,
)
from runner.agents.webhook import deliver_webhook, webhook_body

__all__ = [
    "PROTOCOLS",
    "DeliveryRequest",
    "DeliveryResult",
    "a2a_body",
    "deliver",
    "parse_retry_after",
    "user_agent",
    "webhook_body",
]

PROTOCOLS: dict[str, Callable[[httpx.AsyncClient, DeliveryRequest], Awaitable[DeliveryResult]]] = {
    "webhook": deliver_webhook,
    "a2a": deliver_a2a,
}


async def deliver(client: httpx.AsyncClient, request: DeliveryRequest) -> DeliveryResult:
    """Deliver one attempt; never raises for a failed delivery."""
    handler = PROTOCOLS.get(request.protocol)
    if handler is None:
        return config_error(
            time.monotonic(),
            f"unknown agent protocol {request.protocol!r}; expected one of {sorted(PROTOCOLS)}",
        )
    return await handler(client, request)
