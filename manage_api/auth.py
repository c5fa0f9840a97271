"""Bearer API keys: 401 without a valid key; other tenants' resources look absent (404)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from manage_api.context import ApiContext
from manage_api.problems import Problem
from runtime_db.api_keys import Principal, authenticate

_UNAUTHORIZED = Problem(401, "A valid API key is required.", headers={"WWW-Authenticate": "Bearer"})


async def require_principal(request: Request, ctx: ApiContext) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _UNAUTHORIZED

    def _lookup() -> Principal | None:
        with ctx.session_factory() as session:
            return authenticate(session, key.strip())

    principal = await run_in_threadpool(_lookup)
    if principal is None:
        raise _UNAUTHORIZED
    return principal


async def require_tenant(request: Request, ctx: ApiContext, tenant_id: str) -> Principal:
    """The caller, if it may see `tenant_id`; otherwise 404, as if nothing were there."""
    principal = await require_principal(request, ctx)
    if not principal.can_access(tenant_id):
        raise Problem(404, "Not found.")
    return principal


async def require_admin(request: Request, ctx: ApiContext) -> Principal:
    principal = await require_principal(request, ctx)
    if not principal.is_admin:
        raise Problem(403, "An admin key is required.")
    return principal
