"""Agents of a project: where and how a trigger's message is delivered.

A put creates or replaces (an identical put commits nothing). An agent that still has triggers
cannot be deleted: deleting it would strand their schedules.
"""

from __future__ import annotations

from manage_db.agents import AgentRow, delete_agent, get_agent, list_agents, upsert_agent
from manage_db.timestamps import to_db
from manage_db.triggers import list_triggers
from service.context import ServiceContext
from service.errors import Conflict
from service.inputs import AgentPut
from service.project_access import project_read, project_write
from service.scope import Scope
from service.triggers import agent_missing


def _definition(row: AgentRow) -> tuple[str, str, str, str | None]:
    return (row.name, row.endpoint_url, row.protocol, row.auth_header_env)


def put_agent(ctx: ServiceContext, scope: Scope, body: AgentPut) -> tuple[AgentRow, bool]:
    """The agent as defined now, and whether this call created it."""
    with project_write(ctx, scope, f"update agent {scope.agent_id}") as write:
        existing = get_agent(write.conn, scope.agent_id)
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
        if existing is not None and _definition(existing) == _definition(row):
            return existing, False
        if existing is None:
            write.message = f"create agent {scope.agent_id}"
        upsert_agent(write.conn, row)
    return row, existing is None


def get_agent_of(ctx: ServiceContext, scope: Scope) -> AgentRow:
    with project_read(ctx, scope) as conn:
        row = get_agent(conn, scope.agent_id)
    if row is None:
        raise agent_missing(scope.agent_id)
    return row


def list_agents_of(ctx: ServiceContext, scope: Scope) -> list[AgentRow]:
    with project_read(ctx, scope) as conn:
        return list_agents(conn)


def delete_agent_of(ctx: ServiceContext, scope: Scope) -> None:
    with project_write(ctx, scope, f"delete agent {scope.agent_id}") as write:
        if get_agent(write.conn, scope.agent_id) is None:
            raise agent_missing(scope.agent_id)
        triggers = [row.id for row in list_triggers(write.conn, scope.agent_id)]
        if triggers:
            raise Conflict(
                f"Agent {scope.agent_id} still has {len(triggers)} trigger(s) "
                f"({', '.join(triggers[:10])}); delete them first."
            )
        delete_agent(write.conn, scope.agent_id)
