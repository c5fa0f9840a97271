"""The table of every operation the HTTP app can serve, for its OpenAPI document.

Each entry says what a route takes and answers; `manage_api.openapi` turns the table and the
pydantic models into the document (only for routes the app really mounts), and a test holds the
app's routes to this table. A new route needs an entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from manage_api import models as m
from manage_api.agents import AGENT, AGENTS
from manage_api.bulk import PROJECT_TRIGGERS
from manage_api.projects import PROJECT, PROJECTS
from manage_api.runs import InvocationQuery
from manage_api.triggers import AGENT_TRIGGERS, TRIGGER

_INVOCATIONS_T = TRIGGER + "/invocations"
_INVOCATIONS_P = PROJECT + "/invocations"
_SUMMARY = {
    "type": "object",
    "description": "An invocation (with its attempts when one is shown), a list of them under "
    "`items`, or for a started run `{invocation_id, workflow_id, status}`.",
}


@dataclass(frozen=True)
class Operation:
    method: Literal["get", "post", "put", "patch", "delete"]
    path: str
    summary: str
    tag: str
    ok: int = 200
    response: type[BaseModel] | dict[str, Any] | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    headers: tuple[str, ...] = ()
    public: bool = False


_T = "triggers"
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        "/healthz",
        "Health of the three stores",
        "ops",
        public=True,
        response={"type": "object"},
        errors=(503,),
    ),
    Operation(
        "get", "/openapi.json", "This document", "ops", public=True, response={"type": "object"}
    ),
    Operation(
        "get",
        "/docs",
        "Interactive documentation (HTML)",
        "ops",
        public=True,
        response={"type": "string"},
    ),
    Operation(
        "post",
        "/v1/deploy/restart-scheduler",
        "Move the scheduler to a new deployment (deploy secret as bearer)",
        "ops",
        response={"type": "object"},
        errors=(400, 401, 422, 500),
    ),
    Operation(
        "get",
        "/v1/audit",
        "Run the reconciliation audit and report (admin; never repairs)",
        "ops",
        response={"type": "object"},
        errors=(403,),
    ),
    Operation(
        "get",
        "/v1/scheduler",
        "The registered scheduler (admin)",
        "ops",
        response={"type": "object"},
        errors=(403, 404, 503),
    ),
    Operation(
        "post",
        PROJECTS,
        "Create a project (and its branch); idempotent by id",
        "projects",
        ok=201,
        body=m.ProjectCreate,
        response=m.Project,
        errors=(409,),
    ),
    Operation("get", PROJECTS, "List the tenant's projects", "projects", response=m.ProjectList),
    Operation("get", PROJECT, "Get a project", "projects", response=m.Project),
    Operation(
        "delete",
        PROJECT,
        "Delete a project: disable its triggers, cancel pending runs, remove its branch",
        "projects",
        ok=204,
        errors=(409,),
    ),
    Operation("get", AGENTS, "List agents", "agents", response=m.AgentList),
    Operation(
        "put",
        AGENT,
        "Create (201) or replace (200) an agent",
        "agents",
        body=m.AgentPut,
        response=m.Agent,
    ),
    Operation("get", AGENT, "Get an agent", "agents", response=m.Agent),
    Operation("delete", AGENT, "Delete an agent without triggers", "agents", ok=204, errors=(409,)),
    Operation(
        "post",
        AGENT_TRIGGERS,
        "Create a trigger (201); an identical repeat by id or Idempotency-Key answers 200",
        _T,
        ok=201,
        body=m.TriggerCreate,
        response=m.Trigger,
        errors=(409,),
        headers=("Idempotency-Key",),
    ),
    Operation("get", AGENT_TRIGGERS, "List an agent's triggers", _T, response=m.TriggerList),
    Operation("get", TRIGGER, "Get a trigger (ETag: its version)", _T, response=m.Trigger),
    Operation(
        "patch",
        TRIGGER,
        "Change the fields sent; empty PATCH is a 400",
        _T,
        body=m.TriggerPatch,
        response=m.Trigger,
        errors=(412,),
        headers=("If-Match",),
    ),
    Operation(
        "delete",
        TRIGGER,
        "Delete a trigger; cancels its pending runs",
        _T,
        ok=204,
        errors=(412,),
        headers=("If-Match",),
    ),
    Operation(
        "post",
        TRIGGER + "/enable",
        "Enable; next_run_at recomputed from now",
        _T,
        response=m.Trigger,
        errors=(412,),
        headers=("If-Match",),
    ),
    Operation(
        "post",
        TRIGGER + "/disable",
        "Disable; cancels pending runs",
        _T,
        response=m.Trigger,
        errors=(412,),
        headers=("If-Match",),
    ),
    Operation(
        "get",
        TRIGGER + "/upcoming",
        "Next fire instants (also for disabled triggers)",
        _T,
        response=m.Upcoming,
        query=m.UpcomingQuery,
    ),
    Operation(
        "get",
        TRIGGER + "/history",
        "Versions that changed user fields, newest first",
        _T,
        response=m.TriggerHistory,
    ),
    Operation(
        "post",
        TRIGGER + "/revert",
        "Restore a version's user fields as a new commit",
        _T,
        body=m.RevertRequest,
        response=m.Trigger,
        errors=(412,),
        headers=("If-Match",),
    ),
    Operation(
        "get", PROJECT_TRIGGERS, "List all of the project's triggers", _T, response=m.TriggerList
    ),
    Operation(
        "put",
        PROJECT_TRIGGERS,
        "Bulk upsert triggers in one commit",
        _T,
        body=m.BulkTriggers,
        response=m.BulkResult,
    ),
    Operation(
        "post",
        TRIGGER + "/run",
        "Run now (manual): 202 with the invocation",
        "runs",
        ok=202,
        response=_SUMMARY,
        errors=(503,),
    ),
    Operation(
        "get",
        _INVOCATIONS_T,
        "The trigger's invocations, newest first",
        "runs",
        response=_SUMMARY,
        query=InvocationQuery,
    ),
    Operation(
        "get",
        _INVOCATIONS_P,
        "The project's invocations, newest first",
        "runs",
        response=_SUMMARY,
        query=InvocationQuery,
    ),
    *(
        op
        for base in (_INVOCATIONS_T, _INVOCATIONS_P)
        for op in (
            Operation(
                "get",
                base + "/{invocation_id}",
                "An invocation with its attempts",
                "runs",
                response=_SUMMARY,
            ),
            Operation(
                "post",
                base + "/{invocation_id}/cancel",
                "Cancel an open invocation",
                "runs",
                response=_SUMMARY,
                errors=(409,),
            ),
            Operation(
                "post",
                base + "/{invocation_id}/rerun",
                "Run a finished invocation again",
                "runs",
                ok=202,
                response=_SUMMARY,
                errors=(409, 503),
            ),
        )
    ),
)
