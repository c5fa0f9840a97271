"""A tiny agent that speaks both Timekeeper protocols, for trying Timekeeper out and for tests.

    python examples/echo_agent.py --port 9000

`POST /webhook` acknowledges a webhook delivery; `POST /a2a` answers A2A `message/send` with
an agent message echoing the text. Every request is printed as one line and kept in memory;
`GET /received` lists them, so you can see exactly what Timekeeper sent.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _a2a_text(body: Any) -> str | None:
    try:
        parts = body["params"]["message"]["parts"]
        return "\n".join(part["text"] for part in parts if part.get("kind") == "text")
    except (KeyError, TypeError, AttributeError):
        return None


def _rpc_error(rpc_id: Any, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}}
    )


def create_app() -> Starlette:
    """A fresh app with its own in-memory record of received requests."""
    received: list[dict[str, Any]] = []

    async def record(request: Request) -> tuple[Any, str | None]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if request.url.path == "/a2a":
            message = _a2a_text(body)
        else:
            message = body.get("message") if isinstance(body, dict) else None
        key = request.headers.get("idempotency-key")
        received.append(
            {
                "method": request.method,
                "path": request.url.path,
                "idempotency_key": key,
                "message": message,
                "body": body,
            }
        )
        print(
            f"{request.method} {request.url.path} idempotency-key={key} message={message!r}",
            flush=True,
        )
        return body, message

    async def webhook(request: Request) -> JSONResponse:
        body, _ = await record(request)
        if not isinstance(body, dict):
            return JSONResponse({"received": False, "error": "expected a JSON object"}, 400)
        return JSONResponse({"received": True, "invocation_id": body.get("invocation_id")})

    async def a2a(request: Request) -> JSONResponse:
        body, text = await record(request)
        if not isinstance(body, dict):
            return _rpc_error(None, -32700, "Parse error")
        rpc_id = body.get("id")
        if body.get("method") != "message/send":
            return _rpc_error(rpc_id, -32601, "Method not found")
        if text is None:
            return _rpc_error(rpc_id, -32602, "Invalid params")
        reply = {
            "kind": "message",
            "role": "agent",
            "messageId": str(uuid.uuid4()),
            "parts": [{"kind": "text", "text": text}],
        }
        return JSONResponse({"jsonrpc": "2.0", "id": rpc_id, "result": reply})

    async def list_received(request: Request) -> JSONResponse:
        return JSONResponse(received)

    return Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/a2a", a2a, methods=["POST"]),
            Route("/received", list_received, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Echo agent for Timekeeper (webhook and A2A).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    print(
        f"echo agent on http://{args.host}:{args.port} (POST /webhook, POST /a2a, GET /received)",
        flush=True,
    )
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
