"""The trigger page's buttons: each a form POST carrying the CSRF token, then back to the page
(post/redirect/get) with what happened, or why not, as a flash message."""

from __future__ import annotations

import json
import uuid

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from dashboard.pages import TRIGGER
from dashboard.rendering import action, back_of, flash, scoped
from dashboard.session import CSRF_FIELD, check_csrf
from manage_api.problems import validation_errors
from service import controls, runs, trigger_history, triggers
from service.context import ServiceContext
from service.errors import InvalidFields, NotFound
from service.inputs import BackfillBody, SkipBody, UnskipBody
from service.scope import Scope


async def _form(request: Request, ctx: ServiceContext) -> tuple[Scope, FormData]:
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    _, scope = await scoped(request, ctx)
    return scope, form


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _back(request: Request) -> Response:
    return RedirectResponse(back_of(request), status_code=303)


def action_routes(ctx: ServiceContext) -> list[Route]:
    @action
    async def run_now(request: Request) -> Response:
        scope, _ = await _form(request, ctx)
        launched = await runs.run_now(ctx, scope)
        flash(request, f"Run started: invocation {launched.invocation_id}.")
        return _back(request)

    @action
    async def pause(request: Request) -> Response:
        scope, form = await _form(request, ctx)
        note = _text(form, "note") or None
        await run_in_threadpool(triggers.set_enabled, ctx, scope, None, False, note)
        flash(request, "Paused." + (f" Note: {note}" if note else ""))
        return _back(request)

    @action
    async def resume(request: Request) -> Response:
        scope, _ = await _form(request, ctx)
        await run_in_threadpool(triggers.set_enabled, ctx, scope, None, True)
        flash(request, "Resumed.")
        return _back(request)

    @action
    async def skip_next(request: Request) -> Response:
        scope, _ = await _form(request, ctx)
        row = await run_in_threadpool(
            controls.skip, ctx, scope, None, SkipBody(instants=None, next=1)
        )
        skipped = json.loads(row.skipped) if row.skipped else []
        flash(request, "Skipped: " + (", ".join(skipped) or "nothing left to skip") + ".")
        return _back(request)

    @action
    async def unskip(request: Request) -> Response:
        scope, form = await _form(request, ctx)
        raw = json.dumps({"instants": [_text(form, "instant")]})
        try:
            body = UnskipBody.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidFields(validation_errors(exc), "That is not an instant.") from None
        await run_in_threadpool(controls.unskip, ctx, scope, None, body)
        flash(request, f"Unskipped {_text(form, 'instant')}.")
        return _back(request)

    @action
    async def backfill(request: Request) -> Response:
        scope, form = await _form(request, ctx)
        raw = json.dumps({"start": _text(form, "start"), "end": _text(form, "end")})
        try:
            body = BackfillBody.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidFields(
                validation_errors(exc), "The backfill range is not valid."
            ) from None
        done = await controls.backfill(ctx, scope, body)
        flash(request, f"Backfill: {len(done.instants)} instant(s), {done.started} started now.")
        return _back(request)

    @action
    async def delete(request: Request) -> Response:
        scope, form = await _form(request, ctx)
        if _text(form, "confirm") != "yes":
            flash(request, "Tick “confirm” to delete the trigger.", "error")
            return _back(request)
        await run_in_threadpool(triggers.delete_trigger, ctx, scope, None)
        flash(request, f"Deleted trigger {scope.trigger_id}.")
        project = f"/ui/tenants/{scope.tenant_id}/projects/{scope.project_id}"
        return RedirectResponse(project, status_code=303)

    @action
    async def revert(request: Request) -> Response:
        scope, form = await _form(request, ctx)
        commit = _text(form, "commit")
        row = await run_in_threadpool(trigger_history.revert_trigger, ctx, scope, None, commit)
        flash(request, f"Reverted to {commit[:10]}: now version {row.version}.")
        return _back(request)

    def _invocation_id(request: Request) -> uuid.UUID:
        try:
            return uuid.UUID(request.path_params["invocation_id"])
        except ValueError:
            raise NotFound("Invocation not found.") from None

    @action
    async def cancel(request: Request) -> Response:
        scope, _ = await _form(request, ctx)
        row = await runs.cancel_invocation(ctx, scope, _invocation_id(request))
        flash(request, f"Cancelled invocation {row.id}.")
        return _back(request)

    @action
    async def rerun(request: Request) -> Response:
        scope, _ = await _form(request, ctx)
        launched = await runs.rerun_invocation(ctx, scope, _invocation_id(request))
        flash(request, f"Rerun started: invocation {launched.invocation_id}.")
        return _back(request)

    posts = {
        "/run": run_now,
        "/pause": pause,
        "/resume": resume,
        "/skip-next": skip_next,
        "/unskip": unskip,
        "/backfill": backfill,
        "/delete": delete,
        "/revert": revert,
        "/invocations/{invocation_id}/cancel": cancel,
        "/invocations/{invocation_id}/rerun": rerun,
    }
    return [Route(TRIGGER + path, fn, methods=["POST"]) for path, fn in posts.items()]
