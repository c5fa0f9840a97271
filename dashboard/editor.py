"""Create and edit a trigger in a form, with the API's field errors beside the fields and a live
preview of the schedule (a JSON endpoint the editor's script calls as you type)."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import available_timezones

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from dashboard.pages import PROJECT, TRIGGER
from dashboard.rendering import page, render, scoped
from dashboard.session import CSRF_FIELD, CSRF_HEADER, check_csrf
from manage_api.controls import preview_answer
from manage_api.problems import validation_errors
from service import controls, triggers
from service.context import ServiceContext
from service.errors import DomainError, FieldError, InvalidFields
from service.inputs import SchedulePreview, TriggerCreate, TriggerPatch
from service.scope import Scope

_FIELDS = ("name", "cron_expression", "cron_timezone", "message_template", "jitter_seconds",
           "overlap_policy", "catchup", "start_at", "end_at", "max_runs")  # fmt: skip
_NULLABLE = ("cron_expression", "start_at", "end_at", "max_runs")
_ZONES = sorted(available_timezones())


def _values(form: Any, creating: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("id", *_FIELDS) if creating else _FIELDS:
        raw = form.get(name)
        text = raw.strip() if isinstance(raw, str) else ""
        if name in ("jitter_seconds", "max_runs"):
            number = int(text) if text.isdigit() else text
            values[name] = number if text else (0 if name == "jitter_seconds" else None)
        elif name in _NULLABLE:
            values[name] = text or None
        elif text or name in ("name", "message_template"):
            values[name] = text
    return values


def _errors(exc: Exception) -> dict[str, str]:
    found: list[FieldError] = []
    if isinstance(exc, ValidationError):
        found = validation_errors(exc)
    elif isinstance(exc, InvalidFields):
        found = exc.errors
    shown: dict[str, str] = {}
    for error in found:
        shown.setdefault(error.field, error.message)
    if isinstance(exc, DomainError) and not found:
        shown[""] = exc.message
    return shown


def _parse(model: type[BaseModel], values: dict[str, Any]) -> Any:
    return model.model_validate_json(json.dumps(values))


def editor_routes(ctx: ServiceContext) -> list[Route]:
    def _form_page(
        request: Request,
        scope: Scope,
        values: dict[str, Any],
        creating: bool,
        errors: Any,
        status: int = 200,
    ) -> Response:
        project_url = f"/ui/tenants/{scope.tenant_id}/projects/{scope.project_id}"
        context = {
            "scope": scope,
            "values": values,
            "creating": creating,
            "errors": errors,
            "zones": _ZONES,
            "project_url": project_url,
            "preview_url": project_url + "/preview",
        }
        return render(request, "edit.html", context, request.state.principal, status)

    @page
    async def new_form(request: Request) -> Response:
        request.state.principal, scope = await scoped(request, ctx)
        return _form_page(request, scope, {"cron_timezone": "UTC"}, True, {})

    @page
    async def create(request: Request) -> Response:
        request.state.principal, scope = await scoped(request, ctx)
        form = await request.form()
        check_csrf(request, form.get(CSRF_FIELD))
        values = _values(form, creating=True)
        try:
            body = _parse(TriggerCreate, values)
            row, _ = await run_in_threadpool(triggers.create_trigger, ctx, scope, body)
        except (ValidationError, DomainError) as exc:
            return _form_page(request, scope, values, True, _errors(exc), 422)
        url = f"/ui/tenants/{scope.tenant_id}/projects/{scope.project_id}"
        return RedirectResponse(f"{url}/agents/{scope.agent_id}/triggers/{row.id}", 303)

    @page
    async def edit_form(request: Request) -> Response:
        request.state.principal, scope = await scoped(request, ctx)
        row = await run_in_threadpool(triggers.get_trigger_of, ctx, scope)
        values = {name: getattr(row, name) for name in _FIELDS}
        return _form_page(request, scope, values, False, {})

    @page
    async def save(request: Request) -> Response:
        request.state.principal, scope = await scoped(request, ctx)
        form = await request.form()
        check_csrf(request, form.get(CSRF_FIELD))
        values = _values(form, creating=False)
        if values.get("cron_expression") is None:
            values.pop("cron_expression", None)  # a one-time trigger keeps its run_at
        try:
            patch = _parse(TriggerPatch, values)
            await run_in_threadpool(triggers.patch_trigger, ctx, scope, None, patch)
        except (ValidationError, DomainError) as exc:
            return _form_page(request, scope, values, False, _errors(exc), 422)
        return RedirectResponse(request.url.path.removesuffix("/edit"), 303)

    async def preview(request: Request) -> Response:
        """The schedule-preview answer for the editor's script (CSRF token in a header)."""
        try:
            _, scope = await scoped(request, ctx)
            check_csrf(request, request.headers.get(CSRF_HEADER))
            body = SchedulePreview.model_validate_json(await request.body())
            found = await run_in_threadpool(controls.preview, ctx, scope, body)
        except (ValidationError, InvalidFields) as exc:
            errors = [{"field": f, "message": m} for f, m in _errors(exc).items()]
            return JSONResponse({"errors": errors}, status_code=422)
        except Exception:
            return JSONResponse({"errors": [{"field": "", "message": "not available"}]}, 403)
        return JSONResponse(preview_answer(found).model_dump(mode="json"))

    new = PROJECT + "/agents/{agent_id}/new-trigger"
    return [
        Route(new, new_form, methods=["GET"]),
        Route(new, create, methods=["POST"]),
        Route(TRIGGER + "/edit", edit_form, methods=["GET"]),
        Route(TRIGGER + "/edit", save, methods=["POST"]),
        Route(PROJECT + "/preview", preview, methods=["POST"]),
    ]
