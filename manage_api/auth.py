"""Bearer API keys: 401 without a valid key; other tenants' resources look absent (404)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from manage_api.bearer import bearer_token
from manage_api.problems import Problem
from runtime_db.api_keys import Principal, authenticate
from service.context import ServiceContext


def _unauthorized() -> Problem:
    return Problem(401, "A valid API key is required.", headers={"WWW-Authenticate": "Bearer"})


async def require_principal(request: Request, ctx: ServiceContext) -> Principal:
    key = bearer_token(request.headers.get("authorization"))
    if key is None:
        raise _unauthorized()

    def _lookup() -> Principal | None:
        with ctx.session_factory() as session:
            return authenticate(session, key)

    principal = await run_in_threadpool(_lookup)
    if principal is None:
        raise _unauthorized()
    return principal


async def require_tenant(request: Request, ctx: ServiceContext, tenant_id: str) -> Principal:
    """The caller, if it may see `tenant_id`; otherwise 404, as if nothing were there."""
    principal = await require_principal(request, ctx)
    if not principal.can_access(tenant_id):
        raise Problem(404, "Not found.")
    return principal


async def require_admin(request: Request, ctx: ServiceContext) -> Principal:
    principal = await require_principal(request, ctx)
    if not principal.is_admin:
        raise Problem(403, "An admin key is required.")
    return principal
