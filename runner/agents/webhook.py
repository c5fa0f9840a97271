"""Plain webhook delivery: one JSON POST; any 2xx means the agent has the message."""

from __future__ import annotations

from typing import Any

import httpx

from runner.agents.base import DeliveryRequest, DeliveryResult, post_json, trigger_ref


def webhook_body(request: DeliveryRequest) -> dict[str, Any]:
    return {
        "invocation_id": request.invocation_id,
        "trigger": trigger_ref(request),
        "scheduled_for": request.scheduled_for,
        "message": request.message,
        "payload": request.payload,
        "attempt": request.attempt,
    }


async def deliver_webhook(client: httpx.AsyncClient, request: DeliveryRequest) -> DeliveryResult:
    return await post_json(client, request, webhook_body(request))
