"""`POST /v1/deploy/restart-scheduler`: CI moves the scheduler onto the code it just deployed.

Failures answer problem+json with generic bodies, like every other endpoint; what went wrong
goes to the log, never to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from temporalio.client import Client

from deploy_hooks.secret import secret_matches
from dispatcher.control import SchedulerStart, start_scheduler
from dispatcher.models import PLAIN_SCHEDULER, SchedulerOptions
from manage_api.bearer import bearer_token
from manage_api.inputs import json_object, parse_body
from manage_api.problems import Problem
from manage_api.routing import Operation, RouteList

log = logging.getLogger(__name__)

DEPLOYMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class RestartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployment_id: str = Field(pattern=DEPLOYMENT_ID_PATTERN, description="The new deployment.")


class RestartResponse(BaseModel):
    workflow_id: str
    run_id: str | None
    generation: int
    previous: int | None = Field(description="The generation this one supersedes, if any.")


@dataclass
class DeployContext:
    session_factory: sessionmaker[Session]
    temporal: Client
    deploy_secret: str | None
    tick_seconds: int
    task_queue_for: Callable[[str], str]
    scheduler: SchedulerOptions = PLAIN_SCHEDULER  # the deployment's, from its settings


def deploy_routes(ctx: DeployContext) -> RouteList:
    routes = RouteList("ops")

    @routes.post(
        "/v1/deploy/restart-scheduler",
        Operation(
            "restartScheduler",
            "Move the scheduler to a new deployment (deploy secret as bearer)",
            RestartResponse,
            body=RestartRequest,
            errors=(409, 500),
        ),
    )
    async def restart_scheduler(request: Request) -> Response:
        if not secret_matches(
            bearer_token(request.headers.get("authorization")), ctx.deploy_secret
        ):
            if ctx.deploy_secret is None:
                log.warning("deploy hook called but TIMEKEEPER_DEPLOY_SECRET is not set")
            raise Problem(401, "Not authorized.")
        body = parse_body(RestartRequest, await json_object(request))
        try:
            started = await _start(ctx, body.deployment_id)
        except Exception:
            log.exception("restart-scheduler failed for deployment %s", body.deployment_id)
            raise Problem(500, "The scheduler could not be restarted.") from None
        if started.superseded_by is not None:
            log.warning(
                "restart-scheduler refused: deployment %s (generation %s) is older than the"
                " registered scheduler (generation %s)",
                body.deployment_id,
                started.generation,
                started.superseded_by,
            )
            raise Problem(
                409,
                f"Deployment {body.deployment_id} is older than the running scheduler; "
                "roll out under a new deployment_id to move the scheduler.",
            )
        log.info(
            "scheduler restart: deployment=%s generation=%s previous=%s run_id=%s",
            body.deployment_id,
            started.generation,
            started.previous,
            started.run_id,
        )
        response = RestartResponse(
            workflow_id=started.workflow_id,
            run_id=started.run_id,
            generation=started.generation,
            previous=started.previous,
        )
        return JSONResponse(response.model_dump())

    return routes


def _start(ctx: DeployContext, deployment_id: str) -> Awaitable[SchedulerStart]:
    return start_scheduler(
        ctx.temporal,
        ctx.session_factory,
        deployment_id=deployment_id,
        task_queue=ctx.task_queue_for(deployment_id),
        tick_seconds=ctx.tick_seconds,
        options=ctx.scheduler,
    )
