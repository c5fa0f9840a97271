"""`GET /v1/audit` (admin): the audit's JSON document; it reports and never repairs.

Repairs stay with `timekeeper audit --fix`, run by an operator who sees what it changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from audit.run import AuditContext, run_audit


def audit_routes(
    ctx: AuditContext, require_admin: Callable[[Request], Awaitable[object]]
) -> list[Route]:
    """`require_admin` raises (401/403) unless the caller holds an admin key."""

    async def get_audit(request: Request) -> JSONResponse:
        await require_admin(request)
        report = await run_audit(ctx, fix=False)
        return JSONResponse(report.to_document())

    return [Route("/v1/audit", get_audit, methods=["GET"])]
