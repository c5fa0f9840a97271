"""`GET /healthz`: each store answers or is named as the one that does not."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from manage_api.models import Health
from manage_api.routing import Operation, RouteList
from runtime_db.scheduler_state import stall_of
from service.context import ServiceContext

log = logging.getLogger(__name__)
_TIMEOUT_SECONDS = 5.0


def health_routes(ctx: ServiceContext) -> RouteList:
    routes = RouteList("ops")

    @routes.get(
        "/healthz",
        Operation("getHealth", "Health of the three stores", Health, errors=(503,), public=True),
    )
    async def healthz(request: Request) -> Response:
        results = await asyncio.gather(
            _check("runtime_db", run_in_threadpool(_check_runtime, ctx)),
            _check("manage_db", run_in_threadpool(_check_manage, ctx)),
            _check("temporal", _check_temporal(ctx)),
        )
        stores = dict(results)
        stalled = None
        if stores["runtime_db"] == "ok":
            stalled = await run_in_threadpool(_scheduler_stalled, ctx)
        healthy = all(state == "ok" for state in stores.values()) and stalled is None
        body: dict[str, object] = {"status": "ok" if healthy else "unavailable", "stores": stores}
        if stalled is not None:
            body["reason"] = stalled
        return JSONResponse(body, status_code=200 if healthy else 503)

    return routes


async def _check(name: str, probe: object) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, timeout=_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except Exception:
        log.warning("health check failed for %s", name, exc_info=True)
        return name, "unavailable"
    return name, "ok"


def _check_runtime(ctx: ServiceContext) -> None:
    with ctx.session_factory() as session:
        session.execute(text("select 1")).scalar_one()


def _check_manage(ctx: ServiceContext) -> None:
    with ctx.store.read() as conn:
        conn.execute("select count(*) from dolt_branches").fetchone()


async def _check_temporal(ctx: ServiceContext) -> None:
    """An RPC that reads Temporal's persistence, not only its port: a server whose database is
    locked or gone answers a health check but not this."""
    if ctx.temporal is None:
        raise RuntimeError("no Temporal client configured")
    await ctx.temporal.count_workflows(rpc_timeout=timedelta(seconds=_TIMEOUT_SECONDS))


def _scheduler_stalled(ctx: ServiceContext) -> str | None:
    """Why the registered scheduler looks stalled (no tick for 3 tick periods), or None."""
    with ctx.session_factory() as session:
        stall = stall_of(session, ctx.now(), ctx.tick_seconds)
    return stall.reason if stall is not None else None
