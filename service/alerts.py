"""A project's alert hooks: where events are posted. They live in the runtime database (they
are operational settings, not versioned definitions) and go when their project goes."""

from __future__ import annotations

from runtime_db.alerts import delete_hook, deliveries_of, get_hook, list_hooks, put_hook
from runtime_db.models import AlertDelivery, AlertHook
from service.context import ServiceContext
from service.errors import NotFound
from service.inputs import AlertHookPut
from service.project_access import project_read
from service.scope import Scope

MAX_DELIVERIES = 200


def _project_exists(ctx: ServiceContext, scope: Scope) -> None:
    with project_read(ctx, scope):
        pass


def _missing(hook_id: str) -> NotFound:
    return NotFound(f"Alert {hook_id} not found.")


def put_alert(ctx: ServiceContext, scope: Scope, body: AlertHookPut) -> tuple[AlertHook, bool]:
    """The hook as defined now, and whether this call created it."""
    _project_exists(ctx, scope)
    hook_id = scope.alert_id
    with ctx.session_factory.begin() as session:
        hook, created = put_hook(
            session,
            scope.tenant_id,
            scope.project_id,
            hook_id,
            url=body.url,
            events=list(body.events),
            secret_env=body.secret_env,
            now=ctx.now(),
        )
        session.expunge(hook)
    return hook, created


def get_alert(ctx: ServiceContext, scope: Scope) -> AlertHook:
    _project_exists(ctx, scope)
    hook_id = scope.alert_id
    with ctx.session_factory() as session:
        hook = get_hook(session, scope.tenant_id, scope.project_id, hook_id)
        if hook is None:
            raise _missing(hook_id)
        session.expunge(hook)
    return hook


def list_alerts(ctx: ServiceContext, scope: Scope) -> list[AlertHook]:
    _project_exists(ctx, scope)
    with ctx.session_factory() as session:
        hooks = list_hooks(session, scope.tenant_id, scope.project_id)
        session.expunge_all()
    return hooks


def delete_alert(ctx: ServiceContext, scope: Scope) -> None:
    _project_exists(ctx, scope)
    hook_id = scope.alert_id
    with ctx.session_factory.begin() as session:
        if not delete_hook(session, scope.tenant_id, scope.project_id, hook_id):
            raise _missing(hook_id)


def alert_deliveries(ctx: ServiceContext, scope: Scope, limit: int = 50) -> list[AlertDelivery]:
    """The hook's latest deliveries, newest first."""
    get_alert(ctx, scope)
    with ctx.session_factory() as session:
        rows = deliveries_of(
            session, scope.tenant_id, scope.project_id, scope.alert_id, min(limit, MAX_DELIVERIES)
        )
        session.expunge_all()
    return rows
