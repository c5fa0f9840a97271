"""`GET /v1/audit`: admin only, the same JSON document as `--json`, and it never repairs."""

from __future__ import annotations

import httpx
from sqlalchemy.orm import Session, sessionmaker

from manage_db.store import ManageStore
from runtime_db.api_keys import create_key
from runtime_db.schedules import all_schedules
from service.context import ServiceContext
from tests.audit.conftest import NOW, add_triggers, audit_context, trigger_row
from timekeeper.app import create_app


async def test_get_audit_is_admin_only_and_reports_without_fixing(
    manage_store: ManageStore, session_factory: sessionmaker[Session]
) -> None:
    add_triggers(
        manage_store, session_factory, "acme", "web", trigger_row("daily", next_run_at=None)
    )
    with session_factory.begin() as session:
        admin, _ = create_key(session, tenant_id=None, is_admin=True)
        tenant, _ = create_key(session, tenant_id="acme", is_admin=False)
    api = ServiceContext(session_factory, manage_store, None, task_queue="q", now=lambda: NOW)
    app = create_app(api, audit=audit_context(manage_store, session_factory))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        anonymous = await client.get("/v1/audit")
        as_tenant = await client.get("/v1/audit", headers={"Authorization": f"Bearer {tenant}"})
        as_admin = await client.get(
            "/v1/audit", params={"fix": "true"}, headers={"Authorization": f"Bearer {admin}"}
        )

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert as_tenant.status_code == 403
    assert as_tenant.json()["detail"] == "An admin key is required."
    assert as_admin.status_code == 200
    assert as_admin.json() == {
        "healthy": False,
        "checked_at": "2030-01-07T10:00:00Z",
        "findings": [
            {
                "check": "next_run_missing",
                "subject": {"tenant_id": "acme", "project_id": "web", "trigger_id": "daily"},
                "message": "enabled trigger has no next_run_at: it will never fire",
                "fixable": True,
                "fixed": False,
            },
            {
                "check": "temporal_unavailable",
                "subject": {},
                "message": "Temporal is not configured: scheduler checks skipped",
                "fixable": False,
                "fixed": False,
            },
        ],
        "repairs": [],
        "counts": {
            "schedule_behind": 0,
            "schedule_missing": 0,
            "schedule_stale": 0,
            "schedule_orphaned": 0,
            "next_run_missing": 1,
            "trigger_overdue": 0,
            "instants_unaccounted": 0,
            "schedule_invalid": 0,
            "scheduler_missing": 0,
            "scheduler_not_running": 0,
            "superseded_still_running": 0,
            "temporal_unavailable": 1,
            "invocation_stale": 0,
            "invocation_orphaned": 0,
            "schema_behind": 0,
        },
    }
    with session_factory() as session:
        assert [row.next_run_at for row in all_schedules(session)] == [None]
