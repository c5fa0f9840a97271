"""`GET .../upcoming`: the next fire instants of a trigger, by the dispatcher's own function.

It previews the schedule, so it answers for a disabled trigger too.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from manage_api.branch_access import project_read
from manage_api.context import ApiContext
from manage_api.inputs import PathScope, path_scope
from manage_api.models import Upcoming, UpcomingInstant, UpcomingQuery
from manage_api.problems import validation_problem
from manage_api.triggers import TRIGGER, current_trigger
from manage_db.next_run import Schedule, local_time, upcoming
from manage_db.timestamps import from_db, to_db


def _upcoming(ctx: ApiContext, scope: PathScope, query: UpcomingQuery) -> dict[str, Any]:
    with project_read(ctx, scope) as conn:
        row = current_trigger(conn, scope)
    schedule = Schedule(
        cron_expression=row.cron_expression,
        cron_timezone=row.cron_timezone,
        run_at=from_db(row.run_at),
    )
    after = query.after or ctx.now()
    instants = [
        UpcomingInstant(utc=to_db(moment), local=local_time(moment, row.cron_timezone).isoformat())
        for moment in upcoming(schedule, after, query.count)
    ]
    body = Upcoming(trigger_id=row.id, timezone=row.cron_timezone, instants=instants)
    return body.model_dump(mode="json")


def upcoming_routes(ctx: ApiContext) -> list[Route]:
    async def get(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        try:
            query = UpcomingQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            raise validation_problem(exc) from None
        return JSONResponse(await run_in_threadpool(_upcoming, ctx, scope, query))

    return [Route(TRIGGER + "/upcoming", get, methods=["GET"])]
