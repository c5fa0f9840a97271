"""A2A delivery: JSON-RPC 2.0 `message/send` with one text part.

The invocation id doubles as the JSON-RPC id and the A2A messageId, so a retried attempt is
recognisably the same message to the agent. A 2xx is not enough here: JSON-RPC reports failures
inside a 200, so the body must be a JSON-RPC response to this request without an "error".
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from runner.agents.base import DeliveryRequest, DeliveryResult, post_json, trigger_ref

METHOD = "message/send"


def a2a_body(request: DeliveryRequest) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request.invocation_id,
        "method": METHOD,
        "params": {
            "message": {
                "role": "user",
                "messageId": request.invocation_id,
                "kind": "message",
                "parts": [{"kind": "text", "text": request.message}],
                "metadata": {
                    "trigger": trigger_ref(request),
                    "scheduled_for": request.scheduled_for,
                    "payload": request.payload,
                    "attempt": request.attempt,
                },
            }
        },
    }


def check_jsonrpc_response(request: DeliveryRequest, raw: bytes, truncated: bool) -> str | None:
    """Why this body is not a successful JSON-RPC 2.0 response to `request`, or None."""
    if truncated:
        return "response body too large to be checked as JSON-RPC"
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return "response is not JSON"
    if not isinstance(body, dict):
        return "response is not a JSON-RPC 2.0 response object"
    if "error" in body:
        error = body["error"]
        if isinstance(error, dict):
            return f"JSON-RPC error {error.get('code')}: {error.get('message')}"
        return f"JSON-RPC error: {error}"
    if body.get("jsonrpc") != "2.0":
        return 'response lacks "jsonrpc": "2.0"'
    if "id" not in body:
        return 'response lacks "id"'
    if body["id"] != request.invocation_id:
        return f"response id {body['id']!r} does not match request id"
    if "result" not in body:
        return 'response lacks "result"'
    return None


async def deliver_a2a(client: httpx.AsyncClient, request: DeliveryRequest) -> DeliveryResult:
    return await post_json(client, request, a2a_body(request), check_jsonrpc_response)
