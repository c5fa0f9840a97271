"""`GET /v1/scheduler` (admin): the registered scheduler, and whether Temporal says it runs now."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from dispatcher.control import latest_run
from manage_api.auth import require_admin
from manage_api.context import ApiContext
from manage_api.problems import Problem
from runtime_db.scheduler_state import current_state

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


def scheduler_routes(ctx: ApiContext) -> list[Route]:
    async def get_scheduler(request: Request) -> JSONResponse:
        await require_admin(request, ctx)

        def _read() -> dict[str, object] | None:
            with ctx.session_factory() as session:
                state = current_state(session)
                if state is None:
                    return None
                return {
                    "generation": state.generation,
                    "deployment_id": state.deployment_id,
                    "workflow_id": state.workflow_id,
                    "run_id": state.run_id,
                    "task_queue": state.task_queue,
                    "last_tick_at": state.last_tick_at,
                    "last_tick": state.last_tick,
                }

        state = await run_in_threadpool(_read)
        if state is None:
            raise Problem(404, "No scheduler is registered.")
        if ctx.temporal is None:
            raise Problem(503, "Temporal is not configured.")
        run_id, running = await current_run(ctx.temporal, str(state["workflow_id"]))
        last_tick_at = state["last_tick_at"]
        body = {
            **state,
            "run_id": run_id or state["run_id"],
            "running": running,
            "last_tick_at": last_tick_at.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]
            if last_tick_at is not None
            else None,
        }
        return JSONResponse(body)

    return [Route("/v1/scheduler", get_scheduler, methods=["GET"])]
