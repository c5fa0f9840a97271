"""`POST /v1/deploy/restart-scheduler`: CI moves the scheduler onto the code it just deployed.

Failures answer with generic bodies; what went wrong goes to the log, never to the caller.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client

from deploy_hooks.secret import bearer_token, secret_matches
from dispatcher.control import SchedulerStart, start_scheduler

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


def _problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def deploy_routes(ctx: DeployContext) -> list[Route]:
    async def restart_scheduler(request: Request) -> JSONResponse:
        if not secret_matches(
            bearer_token(request.headers.get("authorization")), ctx.deploy_secret
        ):
            if ctx.deploy_secret is None:
                log.warning("deploy hook called but TIMEKEEPER_DEPLOY_SECRET is not set")
            return _problem(401, "Unauthorized", "Not authorized.")
        try:
            payload = json.loads(await request.body())
        except (ValueError, RecursionError):
            return _problem(400, "Bad Request", "The body is not valid JSON.")
        try:
            body = RestartRequest.model_validate(payload)
        except ValidationError as exc:
            errors = [
                {"field": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
            return _problem(422, "Unprocessable Content", "Invalid fields.", errors=errors)
        try:
            started = await _start(ctx, body.deployment_id)
        except Exception:
            log.exception("restart-scheduler failed for deployment %s", body.deployment_id)
            return _problem(500, "Internal Server Error", "The scheduler could not be restarted.")
        if started.superseded_by is not None:
            log.warning(
                "restart-scheduler refused: deployment %s (generation %s) is older than the"
                " registered scheduler (generation %s)",
                body.deployment_id,
                started.generation,
                started.superseded_by,
            )
            return _problem(
                409,
                "Conflict",
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

    return [Route("/v1/deploy/restart-scheduler", restart_scheduler, methods=["POST"])]


def _start(ctx: DeployContext, deployment_id: str) -> Awaitable[SchedulerStart]:
    return start_scheduler(
        ctx.temporal,
        ctx.session_factory,
        deployment_id=deployment_id,
        task_queue=ctx.task_queue_for(deployment_id),
        tick_seconds=ctx.tick_seconds,
    )
