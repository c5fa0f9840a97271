"""Agents of a project: where and how a trigger's message is delivered.

`PUT` creates or replaces (201 / 200; an identical PUT commits nothing). An agent that still
has triggers cannot be deleted (409 naming them): deleting it would strand their schedules.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from manage_api.branch_access import project_read, project_write
from manage_api.context import ApiContext
from manage_api.inputs import PathScope, json_object, parse_body, path_scope
from manage_api.models import Agent, AgentEndpoint, AgentPut
from manage_api.problems import Problem
from manage_db.agents import AgentRow, delete_agent, get_agent, list_agents, upsert_agent
from manage_db.timestamps import to_db
from manage_db.triggers import list_triggers

AGENTS = "/v1/tenants/{tenant_id}/projects/{project_id}/agents"
AGENT = AGENTS + "/{agent_id}"


def agent_body(row: AgentRow) -> dict[str, Any]:
    endpoint = AgentEndpoint.model_construct(
        url=row.endpoint_url, protocol=row.protocol, auth_header_env=row.auth_header_env
    )
    agent = Agent(
        id=row.id,
        name=row.name,
        endpoint=endpoint,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
    return agent.model_dump(mode="json")


def agent_missing(agent_id: str) -> Problem:
    return Problem(404, f"Agent {agent_id} not found.")


def _put(ctx: ApiContext, scope: PathScope, body: AgentPut) -> tuple[AgentRow, bool]:
    with project_write(ctx, scope, f"update agent {scope.agent_id}") as unit:
        existing = get_agent(unit.conn, scope.agent_id)
        stamp = to_db(ctx.now())
        row = AgentRow(
            id=scope.agent_id,
            name=body.name,
            endpoint_url=body.endpoint.url,
            protocol=body.endpoint.protocol,
            auth_header_env=body.endpoint.auth_header_env,
            created_at=existing.created_at if existing else stamp,
            updated_at=stamp,
        )
        if existing is not None and _same(existing, row):
            return existing, False
        if existing is None:
            unit.message = f"create agent {scope.agent_id}"
        upsert_agent(unit.conn, row)
    return row, existing is None


def _same(a: AgentRow, b: AgentRow) -> bool:
    return (a.name, a.endpoint_url, a.protocol, a.auth_header_env) == (
        b.name,
        b.endpoint_url,
        b.protocol,
        b.auth_header_env,
    )


def _get(ctx: ApiContext, scope: PathScope) -> AgentRow:
    with project_read(ctx, scope) as conn:
        row = get_agent(conn, scope.agent_id)
    if row is None:
        raise agent_missing(scope.agent_id)
    return row


def _list(ctx: ApiContext, scope: PathScope) -> list[AgentRow]:
    with project_read(ctx, scope) as conn:
        return list_agents(conn)


def _delete(ctx: ApiContext, scope: PathScope) -> None:
    with project_write(ctx, scope, f"delete agent {scope.agent_id}") as unit:
        if get_agent(unit.conn, scope.agent_id) is None:
            raise agent_missing(scope.agent_id)
        triggers = [row.id for row in list_triggers(unit.conn, scope.agent_id)]
        if triggers:
            raise Problem(
                409,
                f"Agent {scope.agent_id} still has {len(triggers)} trigger(s) "
                f"({', '.join(triggers[:10])}); delete them first.",
            )
        delete_agent(unit.conn, scope.agent_id)


def agent_routes(ctx: ApiContext) -> list[Route]:
    async def put(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        body = parse_body(AgentPut, await json_object(request))
        row, created = await run_in_threadpool(_put, ctx, scope, body)
        return JSONResponse(agent_body(row), status_code=201 if created else 200)

    async def get(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        return JSONResponse(agent_body(await run_in_threadpool(_get, ctx, scope)))

    async def list_(request: Request) -> JSONResponse:
        scope = await path_scope(request, ctx)
        rows = await run_in_threadpool(_list, ctx, scope)
        return JSONResponse({"items": [agent_body(row) for row in rows]})

    async def delete(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        await run_in_threadpool(_delete, ctx, scope)
        return Response(status_code=204)

    return [
        Route(AGENTS, list_, methods=["GET"]),
        Route(AGENT, put, methods=["PUT"]),
        Route(AGENT, get, methods=["GET"]),
        Route(AGENT, delete, methods=["DELETE"]),
    ]
