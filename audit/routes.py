"""`GET /v1/audit` (admin): the audit's JSON document; it reports and never repairs.

Repairs stay with `timekeeper audit --fix`, run by an operator who sees what it changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from audit.run import AuditContext, run_audit
from manage_api.routing import Operation, RouteList
from service.fields import Timestamp


class AuditFinding(BaseModel):
    check: str
    subject: dict[str, Any] = Field(description="What the finding is about (ids).")
    message: str
    fixable: bool
    fixed: bool


class AuditRepair(BaseModel):
    check: str
    subject: dict[str, Any]
    action: str


class AuditDocument(BaseModel):
    """The audit report, as docs/audit.md describes it."""

    healthy: bool
    checked_at: Timestamp
    findings: list[AuditFinding]
    repairs: list[AuditRepair]
    counts: dict[str, int] = Field(description="Findings per check, every check present.")


def audit_routes(
    ctx: AuditContext, require_admin: Callable[[Request], Awaitable[object]]
) -> RouteList:
    """`require_admin` raises (401/403) unless the caller holds an admin key."""
    routes = RouteList("ops")

    @routes.get(
        "/v1/audit",
        Operation(
            "getAudit",
            "Run the reconciliation audit and report (admin; never repairs)",
            AuditDocument,
            errors=(403,),
        ),
    )
    async def get_audit(request: Request) -> Response:
        await require_admin(request)
        report = await run_audit(ctx, fix=False)
        return JSONResponse(report.to_document())

    return routes
