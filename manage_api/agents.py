"""Agents over HTTP: `PUT` creates (201) or replaces (200); delete refuses while triggers use it."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from manage_api.inputs import json_object, parse_body, path_scope
from manage_api.models import Agent, AgentList
from manage_api.projects import PROJECT
from manage_api.routing import Operation, RouteList
from manage_db.agents import AgentRow
from service import agents
from service.context import ServiceContext
from service.inputs import AgentEndpoint, AgentPut

AGENTS = PROJECT + "/agents"
AGENT = AGENTS + "/{agent_id}"


def agent_body(row: AgentRow) -> Agent:
    endpoint = AgentEndpoint.model_construct(
        url=row.endpoint_url, protocol=row.protocol, auth_header_env=row.auth_header_env
    )
    return Agent(
        id=row.id,
        name=row.name,
        endpoint=endpoint,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def agent_routes(ctx: ServiceContext) -> RouteList:
    routes = RouteList("agents")

    @routes.get(AGENTS, Operation("listAgents", "List agents", AgentList))
    async def list_(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        rows = await run_in_threadpool(agents.list_agents_of, ctx, scope)
        return JSONResponse(AgentList(items=[agent_body(r) for r in rows]).model_dump(mode="json"))

    @routes.put(
        AGENT, Operation("putAgent", "Create (201) or replace (200) an agent", Agent, body=AgentPut)
    )
    async def put(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = parse_body(AgentPut, await json_object(request))
        row, created = await run_in_threadpool(agents.put_agent, ctx, scope, body)
        return JSONResponse(agent_body(row).model_dump(mode="json"), 201 if created else 200)

    @routes.get(AGENT, Operation("getAgent", "Get an agent", Agent))
    async def get(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        row = await run_in_threadpool(agents.get_agent_of, ctx, scope)
        return JSONResponse(agent_body(row).model_dump(mode="json"))

    @routes.delete(
        AGENT,
        Operation("deleteAgent", "Delete an agent without triggers", status=204, errors=(409,)),
    )
    async def delete(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        await run_in_threadpool(agents.delete_agent_of, ctx, scope)
        return Response(status_code=204)

    return routes
