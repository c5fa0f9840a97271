"""Read models for screens: each project with its trigger count, failing triggers and next run;
each trigger of a project with its last run. Built from the same operations the API uses."""

from __future__ import annotations

from dataclasses import dataclass

from manage_db.projects import ProjectRow, list_project_refs
from manage_db.projects import read_project_at as _read_project_at
from manage_db.triggers import TriggerRow
from runtime_db.api_keys import Principal
from runtime_db.invocations import list_invocations
from runtime_db.models import Invocation
from service.context import ServiceContext
from service.inputs import PageQuery
from service.scope import Scope
from service.triggers import list_project_triggers, status_of

_LAST_RUNS_SCANNED = 1000


@dataclass(frozen=True)
class TriggerOverview:
    trigger: TriggerRow  # as a user sees it (schedule state overlaid)
    status: str
    completed_reason: str | None
    last: Invocation | None  # the newest run that started or ended, if any


@dataclass(frozen=True)
class ProjectOverview:
    project: ProjectRow
    triggers: int
    failing: int  # triggers whose last run failed
    next_run_at: str | None


def visible_projects(ctx: ServiceContext, principal: Principal) -> list[ProjectRow]:
    """Every project the principal may see: its tenant's, or all for an admin."""
    tenant = None if principal.is_admin else principal.tenant_id
    with ctx.store.read() as conn:
        rows = [_read_project_at(conn, t, p) for t, p in list_project_refs(conn, tenant)]
    return [row for row in rows if row is not None]


def project_triggers(ctx: ServiceContext, scope: Scope) -> list[TriggerOverview]:
    """Every trigger of the project with its last run, by id."""
    triggers: list[TriggerRow] = []
    cursor = None
    while True:
        page = list_project_triggers(ctx, scope, PageQuery(limit=1000, cursor=cursor))
        triggers.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    last = _last_runs(ctx, scope)
    found = []
    for row in triggers:
        status, reason = status_of(row)
        found.append(TriggerOverview(row, status, reason, last.get((row.agent_id, row.id))))
    return found


def _last_runs(ctx: ServiceContext, scope: Scope) -> dict[tuple[str, str], Invocation]:
    with ctx.session_factory() as session:
        rows = list_invocations(
            session,
            tenant_id=scope.tenant_id,
            project_id=scope.project_id,
            agent_id=None,
            trigger_id=None,
            status=None,
            limit=_LAST_RUNS_SCANNED,
            before=None,
        )
        session.expunge_all()
    last: dict[tuple[str, str], Invocation] = {}
    for row in rows:  # newest first: the first seen per trigger is its last run
        if row.status in ("pending", "missed"):
            continue
        last.setdefault((row.agent_id, row.trigger_id), row)
    return last


def project_overview(ctx: ServiceContext, scope: Scope, project: ProjectRow) -> ProjectOverview:
    triggers = project_triggers(ctx, scope)
    failing = sum(1 for t in triggers if t.last is not None and t.last.status == "failed")
    upcoming = [t.trigger.next_run_at for t in triggers if t.trigger.next_run_at]
    return ProjectOverview(project, len(triggers), failing, min(upcoming, default=None))
