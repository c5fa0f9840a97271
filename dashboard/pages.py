"""The pages: sign in and out, projects, one project's triggers, one trigger, the scheduler."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from audit.run import AuditContext, run_audit
from dashboard.rendering import page, render, scoped
from dashboard.session import CSRF_FIELD, check_csrf, sign_in, sign_out, signed_in
from dashboard.views import (
    TriggerLine,
    definition_of,
    invocation_line,
    local_of,
    trigger_line,
    version_lines,
)
from manage_db.describe import describe_trigger
from manage_db.timestamps import to_db
from runtime_db.scheduler_state import current_state, stall_of
from service import agents, projects, runs, trigger_history, triggers
from service.context import ServiceContext
from service.inputs import InvocationQuery, PageQuery, UpcomingQuery
from service.overview import project_overview, project_triggers, visible_projects
from service.scope import Scope

PROJECT = "/tenants/{tenant_id}/projects/{project_id}"
TRIGGER = PROJECT + "/agents/{agent_id}/triggers/{trigger_id}"
_INVOCATIONS_SHOWN = 20
_VERSIONS_SHOWN = 20


def page_routes(ctx: ServiceContext, audit: AuditContext | None) -> list[Route]:
    """Every GET page, plus sign in and out."""

    async def login_form(request: Request) -> Response:
        return render(request, "login.html", {"error": None})

    async def login(request: Request) -> Response:
        form = await request.form()
        check_csrf(request, form.get(CSRF_FIELD))
        key = form.get("api_key")
        principal = await sign_in(request, ctx, key) if isinstance(key, str) else None
        if principal is None:
            context = {"error": "That API key is not valid."}
            return render(request, "login.html", context, status=401)
        return RedirectResponse("/ui/", status_code=303)

    async def logout(request: Request) -> Response:
        form = await request.form()
        check_csrf(request, form.get(CSRF_FIELD))
        sign_out(request)
        return RedirectResponse("/ui/login", status_code=303)

    @page
    async def projects_page(request: Request) -> Response:
        principal = await signed_in(request, ctx)

        def _read() -> list[Any]:
            found = []
            for row in visible_projects(ctx, principal):
                scope = Scope(principal.name, row.tenant_id, row.id)
                found.append(project_overview(ctx, scope, row))
            return found

        overviews = await run_in_threadpool(_read)
        return render(request, "projects.html", {"projects": overviews}, principal)

    @page
    async def project_page(request: Request) -> Response:
        principal, scope = await scoped(request, ctx)
        agent = request.query_params.get("agent", "")
        status = request.query_params.get("status", "")
        sort = request.query_params.get("sort", "")

        def _read() -> dict[str, Any]:
            project = projects.get_project_of(ctx, scope)
            lines = [trigger_line(o) for o in project_triggers(ctx, scope)]
            lines = [
                line
                for line in lines
                if agent in ("", line.trigger.agent_id) and status in ("", line.status)
            ]
            if sort == "next_run":
                lines.sort(
                    key=lambda line: (
                        line.trigger.next_run_at is None,
                        line.trigger.next_run_at or "",
                    )
                )
            return {
                "project": project,
                "agents": agents.list_agents_of(ctx, scope),
                "triggers": lines,
            }

        context = await run_in_threadpool(_read)
        base = f"/ui/tenants/{scope.tenant_id}/projects/{scope.project_id}"
        context.update(agent=agent, status=status, sort=sort, base=base)
        return render(request, "project.html", context, principal)

    @page
    async def trigger_page(request: Request) -> Response:
        principal, scope = await scoped(request, ctx)
        context = await run_in_threadpool(_trigger_context, ctx, scope)
        return render(request, "trigger.html", context, principal)

    @page
    async def scheduler_page(request: Request) -> Response:
        principal = await signed_in(request, ctx)
        if not principal.is_admin:
            raise HTTPException(403, "The scheduler page needs an admin key.")

        def _read() -> tuple[Any, Any]:
            with ctx.session_factory() as session:
                state = current_state(session)
                stall = stall_of(session, ctx.now(), ctx.tick_seconds)
                if state is not None:
                    session.expunge(state)
            return state, stall

        state, stall = await run_in_threadpool(_read)
        running = await _running(ctx, state.workflow_id if state else None)
        report = await run_audit(audit, fix=False) if audit is not None else None
        counters = sorted((state.last_tick or {}).items()) if state is not None else []
        context = {
            "state": state,
            "stall": stall.reason if stall is not None else None,
            "running": running,
            "counters": counters,
            "audit": report,
        }
        return render(request, "scheduler.html", context, principal)

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", projects_page, methods=["GET"]),
        Route("/scheduler", scheduler_page, methods=["GET"]),
        Route(PROJECT, project_page, methods=["GET"]),
        Route(TRIGGER, trigger_page, methods=["GET"]),
    ]


def _trigger_context(ctx: ServiceContext, scope: Scope) -> dict[str, Any]:
    row = triggers.get_trigger_of(ctx, scope)
    status, completed_reason = triggers.status_of(row)
    upcoming = trigger_history.upcoming_instants(ctx, scope, UpcomingQuery(count=10))
    page_ = runs.list_invocations_of(ctx, scope, InvocationQuery(limit=_INVOCATIONS_SHOWN))
    invocations = [
        invocation_line(r, runs.get_invocation_of(ctx, scope, r.id).attempts) for r in page_.items
    ]
    history = trigger_history.trigger_history(ctx, scope, PageQuery(limit=_VERSIONS_SHOWN)).items
    project_url = f"/ui/tenants/{scope.tenant_id}/projects/{scope.project_id}"
    return {
        "scope": scope,
        "trigger": row,
        "status": status,
        "completed_reason": completed_reason,
        "pause": row.pause_dict,
        "description": describe_trigger(row),
        "definition": definition_of(row),
        "upcoming": [
            {
                "local": local_of(o.instant, row.cron_timezone),
                "utc": to_db(o.instant),
                "fire_at": to_db(o.fire_at),
                "skipped": o.skipped,
            }
            for o in upcoming.occurrences
        ],
        "invocations": invocations,
        "versions": version_lines(history),
        "url": f"{project_url}/agents/{scope.agent_id}/triggers/{scope.trigger_id}",
        "project_url": project_url,
    }


async def _running(ctx: ServiceContext, workflow_id: str | None) -> str:
    if workflow_id is None or ctx.temporal is None:
        return "unknown"
    try:
        described = await asyncio.wait_for(
            ctx.temporal.get_workflow_handle(workflow_id).describe(), timeout=5
        )
    except (RPCError, TimeoutError):
        return "unknown (Temporal did not answer)"
    return "yes" if described.status == WorkflowExecutionStatus.RUNNING else "no"


def _by_next_run(line: TriggerLine) -> tuple[bool, str]:
    """Soonest first; triggers with nothing to fire last."""
    return line.trigger.next_run_at is None, line.trigger.next_run_at or ""
