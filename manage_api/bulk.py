"""All of a project's triggers at once: `GET` lists them, `PUT` upserts a list in one commit.

The bulk upsert validates every item before writing any (one 422 names `triggers.3.cron_expression`
and every other bad field), then writes all in one SQL transaction and one Dolt commit. Each item
goes through the same rules as a single call: a new trigger gets `next_run_at` exactly as a
create computes it, an existing one changes as a PUT of all its fields would (version +1,
`next_run_at` recomputed only when its schedule or enablement changes), an identical one is left
alone. Triggers not in the list are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from manage_api.branch_access import cancel_runs, project_read, project_write
from manage_api.context import ApiContext
from manage_api.inputs import PathScope, json_object, parse_body, path_scope, refused_fields
from manage_api.models import SERVER_MANAGED, BulkTrigger, BulkTriggers
from manage_api.problems import Problem, field_error
from manage_api.projects import PROJECT
from manage_api.trigger_rows import (
    FieldErrors,
    cancels_pending,
    changed_row,
    create_values,
    new_row,
    trigger_body,
)
from manage_db.agents import list_agents
from manage_db.triggers import (
    TriggerRow,
    get_trigger,
    insert_trigger,
    list_triggers,
    replace_trigger,
)

PROJECT_TRIGGERS = PROJECT + "/triggers"
MAX_BULK_BYTES = 16 * 1024 * 1024
_REFUSED = tuple(name for name in SERVER_MANAGED if name != "agent_id")


@dataclass(frozen=True)
class _Plan:
    """What one item will do: `old` is None for a new trigger; `new` is None when unchanged."""

    old: TriggerRow | None
    new: TriggerRow | None

    @property
    def row(self) -> TriggerRow:
        row = self.new or self.old
        assert row is not None
        return row


def _parse(data: dict[str, Any]) -> BulkTriggers:
    errors: list[dict[str, str]] = []
    items = data.get("triggers")
    if isinstance(items, list):
        cleaned = []
        for index, item in enumerate(items):
            if isinstance(item, dict):
                item, refused = refused_fields(item, _REFUSED, prefix=f"triggers.{index}.")
                errors.extend(refused)
            cleaned.append(item)
        data = {**data, "triggers": cleaned}
    body = parse_body(BulkTriggers, data, errors)
    first: dict[str, int] = {}
    for index, item in enumerate(body.triggers):
        if item.id in first:
            errors.append(
                field_error(f"triggers.{index}.id", f"repeats triggers.{first[item.id]}.id")
            )
        first.setdefault(item.id, index)
    if errors:
        raise Problem(422, "The request has invalid fields.", errors=errors)
    return body


def _plan(
    item: BulkTrigger,
    existing: TriggerRow | None,
    agents: set[str],
    now: datetime,
    prefix: str,
) -> _Plan:
    if item.agent_id not in agents:
        raise FieldErrors([field_error(prefix + "agent_id", f"agent {item.agent_id} not found")])
    values = create_values(item)
    if existing is None:
        row = new_row(
            values,
            trigger_id=item.id,
            agent_id=item.agent_id,
            request_key=None,
            now=now,
            prefix=prefix,
        )
        return _Plan(None, row)
    if existing.agent_id != item.agent_id:
        raise FieldErrors(
            [
                field_error(
                    prefix + "agent_id",
                    f"trigger {item.id} belongs to agent {existing.agent_id}; delete it to move it",
                )
            ]
        )
    run_at_is_new = values["run_at"] is not None and values["run_at"] != existing.run_at
    new = changed_row(existing, values, now=now, require_future_run_at=run_at_is_new, prefix=prefix)
    return _Plan(existing, new)


def _upsert(ctx: ApiContext, scope: PathScope, body: BulkTriggers) -> dict[str, Any]:
    now = ctx.now()
    message = f"bulk upsert {len(body.triggers)} triggers"
    with project_write(ctx, scope, message) as unit:
        agents = {agent.id for agent in list_agents(unit.conn)}
        plans: list[_Plan] = []
        errors: list[dict[str, str]] = []
        for index, item in enumerate(body.triggers):
            try:
                existing = get_trigger(unit.conn, item.id)
                plans.append(_plan(item, existing, agents, now, f"triggers.{index}."))
            except FieldErrors as exc:
                errors.extend(exc.errors)
        if errors:
            raise Problem(422, "The request has invalid fields.", errors=errors)
        for plan in plans:
            if plan.old is None:
                insert_trigger(unit.conn, plan.row)
            elif plan.new is not None and not replace_trigger(
                unit.conn, plan.new, plan.old.version
            ):
                raise Problem(409, f"Trigger {plan.row.id} changed meanwhile; nothing was written.")
    cancelled = [
        plan.row.id
        for plan in plans
        if plan.old is not None and plan.new is not None and cancels_pending(plan.old, plan.new)
    ]
    if cancelled:
        cancel_runs(ctx, scope, message, trigger_ids=cancelled)
    return {
        "created": [plan.row.id for plan in plans if plan.old is None],
        "updated": [plan.row.id for plan in plans if plan.old is not None and plan.new],
        "unchanged": [plan.row.id for plan in plans if plan.new is None],
        "items": [trigger_body(plan.row) for plan in plans],
    }


def _list(ctx: ApiContext, scope: PathScope) -> list[dict[str, Any]]:
    with project_read(ctx, scope) as conn:
        return [trigger_body(row) for row in list_triggers(conn)]


def bulk_routes(ctx: ApiContext) -> list[Route]:
    async def put(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        body = _parse(await json_object(request, MAX_BULK_BYTES))
        return JSONResponse(await run_in_threadpool(_upsert, ctx, scope, body))

    async def list_(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        return JSONResponse({"items": await run_in_threadpool(_list, ctx, scope)})

    return [
        Route(PROJECT_TRIGGERS, put, methods=["PUT"]),
        Route(PROJECT_TRIGGERS, list_, methods=["GET"]),
    ]
