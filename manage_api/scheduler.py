"""`GET /v1/scheduler` (admin): the registered scheduler, and whether Temporal says it runs now."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from dispatcher.control import latest_run
from manage_api.auth import require_admin
from manage_api.models import Compaction, SchedulerStatus
from manage_api.problems import Problem
from manage_api.routing import Operation, RouteList
from manage_db.compaction import store_bytes
from manage_db.timestamps import to_db
from runtime_db.compactions import last_compaction
from runtime_db.models import SchedulerState, StoreCompaction
from runtime_db.scheduler_state import current_state
from service.context import ServiceContext

log = logging.getLogger(__name__)


async def current_run(client: Client, workflow_id: str) -> tuple[str | None, bool]:
    """The workflow's latest run (continue-as-new moves it on) and whether Temporal says it runs."""
    try:
        description = await latest_run(client, workflow_id)
    except RPCError:
        return None, False
    if description is None:
        return None, False
    return description.run_id, description.status == WorkflowExecutionStatus.RUNNING


def scheduler_routes(ctx: ServiceContext) -> RouteList:
    routes = RouteList("ops")

    @routes.get(
        "/v1/scheduler",
        Operation(
            "getScheduler",
            "The registered scheduler (admin)",
            SchedulerStatus,
            errors=(403, 404, 503),
        ),
    )
    async def get_scheduler(request: Request) -> Response:
        await require_admin(request, ctx)

        def _read() -> tuple[SchedulerState | None, StoreCompaction | None]:
            with ctx.session_factory() as session:
                return current_state(session), last_compaction(session)

        state, compaction = await run_in_threadpool(_read)
        if state is None:
            raise Problem(404, "No scheduler is registered.")
        if ctx.temporal is None:
            raise Problem(503, "Temporal is not configured.")
        run_id, running = await current_run(ctx.temporal, state.workflow_id)
        body = SchedulerStatus(
            generation=state.generation,
            deployment_id=state.deployment_id,
            workflow_id=state.workflow_id,
            run_id=run_id or state.run_id,
            task_queue=state.task_queue,
            last_tick_at=to_db(state.last_tick_at) if state.last_tick_at is not None else None,
            last_tick=state.last_tick,
            running=running,
            manage_store_bytes=store_bytes(ctx.store),
            last_compaction=None
            if compaction is None
            else Compaction(
                started_at=to_db(compaction.started_at),
                bytes_before=compaction.bytes_before,
                bytes_after=compaction.bytes_after,
                pause_ms=compaction.pause_ms,
            ),
        )
        return JSONResponse(body.model_dump(mode="json"))

    return routes
