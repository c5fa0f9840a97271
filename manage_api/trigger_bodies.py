"""From the service's trigger rows to response bodies and headers."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

from manage_api.models import Pause, Trigger
from manage_api.problems import etag
from manage_db.describe import describe_trigger
from manage_db.triggers import TriggerRow
from service.scope import Scope
from service.triggers import status_of


def trigger_body(row: TriggerRow) -> Trigger:
    fields: dict[str, Any] = {
        name: getattr(row, name) for name in Trigger.model_fields if hasattr(row, name)
    }
    status, completed_reason = status_of(row)
    return Trigger.model_construct(
        **{
            **fields,
            "payload": row.payload_dict,
            "schedule_description": describe_trigger(row),
            "pause": Pause.model_validate(row.pause_dict) if row.pause else None,
            "skipped": json.loads(row.skipped) if row.skipped else [],
            "status": status,
            "completed_reason": completed_reason,
        }
    )


def trigger_location(scope: Scope, row: TriggerRow) -> str:
    return (
        f"/v1/tenants/{scope.tenant_id}/projects/{scope.project_id}"
        f"/agents/{row.agent_id}/triggers/{row.id}"
    )


def trigger_response(
    row: TriggerRow, status: int = 200, location: str | None = None
) -> JSONResponse:
    headers = {"ETag": etag(row.version)}
    if location is not None:
        headers["Location"] = location
    return JSONResponse(trigger_body(row).model_dump(mode="json"), status, headers)
