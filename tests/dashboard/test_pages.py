"""Dashboard pages with Starlette's test client: sign-in and its cookie, what each page shows,
escaping, CSRF on every form POST, tenant isolation, field errors beside the fields."""

from __future__ import annotations

import re

from tests.dashboard.conftest import NIGHTLY, WEB, Ui, add_trigger


def _testids(html: str, name: str) -> list[str]:
    return re.findall(rf'data-testid="{name}"[^>]*>(.*?)<', html, flags=re.S)


async def test_pages_need_a_session_and_sign_in_sets_a_strict_httponly_cookie(ui: Ui) -> None:
    assert (await ui.client.get("/ui/")).headers["location"] == "/ui/login"
    token = await ui.csrf("/ui/login")
    bad = await ui.client.post("/ui/login", data={"api_key": "tk_nope", "csrf_token": token})
    assert bad.status_code == 401
    assert "That API key is not valid." in bad.text
    good = await ui.client.post("/ui/login", data={"api_key": ui.keys["acme"], "csrf_token": token})
    assert (good.status_code, good.headers["location"]) == (303, "/ui/")
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert (await ui.client.get("/ui/")).status_code == 200
    signed_out = await ui.client.post("/ui/logout", data={"csrf_token": await ui.csrf("/ui/")})
    assert signed_out.headers["location"] == "/ui/login"
    assert (await ui.client.get("/ui/")).status_code == 303


async def test_a_post_without_the_csrf_token_is_a_403_and_changes_nothing(ui: Ui) -> None:
    assert (await ui.client.post("/ui/login", data={"api_key": ui.keys["acme"]})).status_code == 403
    await ui.sign_in()
    refused = await ui.client.post(NIGHTLY + "/pause", data={"note": "x"})
    forged = await ui.client.post(NIGHTLY + "/pause", data={"note": "x", "csrf_token": "forged"})
    assert (refused.status_code, forged.status_code) == (403, 403)
    assert _testids((await ui.client.get(NIGHTLY)).text, "trigger-status") == ["active"]


async def test_projects_and_project_pages_show_each_trigger_in_plain_words(ui: Ui) -> None:
    add_trigger(ui.ctx, id="every5", name="Every five", cron_expression="*/5 * * * *",
                cron_timezone="UTC")  # fmt: skip
    await ui.sign_in()
    projects = (await ui.client.get("/ui/")).text
    assert len(_testids(projects, "project-row")) == 1
    page = (await ui.client.get(WEB)).text
    assert len(_testids(page, "trigger-row")) == 2
    assert _testids(page, "schedule-description") == ["Every 5 minutes", "At 02:30 (Europe/Berlin)"]
    sorted_page = (await ui.client.get(WEB, params={"sort": "next_run"})).text
    assert _testids(sorted_page, "schedule-description")[0] == "Every 5 minutes"
    paused = (await ui.client.get(WEB, params={"status": "paused"})).text
    assert _testids(paused, "trigger-row") == []


async def test_the_trigger_page_shows_the_next_ten_runs_and_acts_with_the_token(ui: Ui) -> None:
    await ui.sign_in()
    page = (await ui.client.get(NIGHTLY)).text
    assert _testids(page, "schedule-description") == ["At 02:30 (Europe/Berlin)"]
    assert _testids(page, "next-run")[:2] == ["2026-03-03 02:30 CET", "2026-03-04 02:30 CET"]
    assert len(_testids(page, "next-run")) == 10
    assert len(_testids(page, "version-row")) == 1
    token = await ui.csrf(NIGHTLY)
    paused = await ui.client.post(
        NIGHTLY + "/pause", data={"note": "vendor down", "csrf_token": token}
    )
    assert (paused.status_code, paused.headers["location"]) == (303, NIGHTLY)
    after = (await ui.client.get(NIGHTLY)).text
    assert _testids(after, "trigger-status") == ["paused"]
    assert "Paused by acme-user at 2026-03-02T12:00:30Z: vendor down" in after
    skipped = await ui.client.post(NIGHTLY + "/skip-next", data={"csrf_token": token})
    assert skipped.status_code == 303
    assert "Skipped: 2026-03-03T01:30:00Z." in (await ui.client.get(NIGHTLY)).text
    resumed = await ui.client.post(NIGHTLY + "/resume", data={"csrf_token": token})
    assert resumed.status_code == 303
    assert _testids((await ui.client.get(NIGHTLY)).text, "trigger-status") == ["active"]


async def test_user_text_is_escaped(ui: Ui) -> None:
    add_trigger(ui.ctx, id="xss", name="<img src=x onerror=alert(1)>")
    await ui.sign_in()
    for path in (WEB, WEB + "/agents/bot/triggers/xss"):
        html = (await ui.client.get(path)).text
        assert "<img src=x" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


async def test_another_tenants_pages_are_404_and_the_scheduler_page_is_for_admins(ui: Ui) -> None:
    await ui.sign_in("globex")
    assert (await ui.client.get(WEB)).status_code == 404
    assert (await ui.client.get(NIGHTLY)).status_code == 404
    token = await ui.csrf("/ui/")
    assert (await ui.client.post(NIGHTLY + "/run", data={"csrf_token": token})).status_code == 404
    assert (await ui.client.get("/ui/scheduler")).status_code == 403
    await ui.sign_in("admin")
    admin = await ui.client.get("/ui/scheduler")
    assert admin.status_code == 200
    assert "No scheduler has registered yet." in admin.text
    assert (await ui.client.get(NIGHTLY)).status_code == 200


async def test_the_editor_shows_field_errors_beside_the_fields_and_previews(ui: Ui) -> None:
    await ui.sign_in()
    token = await ui.csrf(WEB + "/agents/bot/new-trigger")
    form = {"csrf_token": token, "id": "bad", "name": "Bad", "cron_expression": "61 * * * *",
            "cron_timezone": "UTC", "message_template": "m", "jitter_seconds": "0"}  # fmt: skip
    refused = await ui.client.post(WEB + "/agents/bot/new-trigger", data=form)
    assert refused.status_code == 422
    [error] = _testids(refused.text, "error-cron_expression")
    assert "61" in error
    created = await ui.client.post(
        WEB + "/agents/bot/new-trigger", data={**form, "cron_expression": "*/5 * * * *"}
    )
    assert created.headers["location"] == WEB + "/agents/bot/triggers/bad"
    preview = await ui.client.post(
        WEB + "/preview",
        json={"cron_expression": "*/5 * * * *", "count": 2},
        headers={"X-CSRF-Token": token},
    )
    assert preview.json()["schedule_description"] == "Every 5 minutes"
    assert [i["utc"] for i in preview.json()["instants"]] == [
        "2026-03-02T12:05:00Z",
        "2026-03-02T12:10:00Z",
    ]
    no_token = await ui.client.post(WEB + "/preview", json={"cron_expression": "*/5 * * * *"})
    assert no_token.status_code == 403
    edited = await ui.client.post(
        WEB + "/agents/bot/triggers/bad/edit",
        data={**form, "name": "Renamed", "cron_expression": "0 * * * *"},
    )
    assert edited.headers["location"] == WEB + "/agents/bot/triggers/bad"
    assert "Renamed" in (await ui.client.get(WEB + "/agents/bot/triggers/bad")).text


async def test_skip_next_then_unskip_and_the_window_fields_of_the_editor(ui: Ui) -> None:
    await ui.sign_in()
    token = await ui.csrf(NIGHTLY)
    await ui.client.post(NIGHTLY + "/skip-next", data={"csrf_token": token})
    page = (await ui.client.get(NIGHTLY)).text
    assert len(_testids(page, "unskip")) == 1
    unskipped = await ui.client.post(
        NIGHTLY + "/unskip", data={"csrf_token": token, "instant": "2026-03-03T01:30:00Z"}
    )
    assert unskipped.status_code == 303
    after = (await ui.client.get(NIGHTLY)).text
    assert "Unskipped 2026-03-03T01:30:00Z." in after
    assert _testids(after, "unskip") == []

    form = {"csrf_token": token, "name": "Nightly report", "cron_expression": "30 2 * * *",
            "cron_timezone": "Europe/Berlin", "message_template": "Report",
            "jitter_seconds": "0", "overlap_policy": "allow", "catchup": "latest",
            "start_at": "2026-04-01T00:00:00Z", "end_at": "2026-03-01T00:00:00Z",
            "max_runs": ""}  # fmt: skip
    refused = await ui.client.post(NIGHTLY + "/edit", data=form)
    assert refused.status_code == 422
    assert _testids(refused.text, "error-end_at") == ["must be after start_at"]
    saved = await ui.client.post(NIGHTLY + "/edit", data={**form, "end_at": "", "max_runs": "3"})
    assert saved.status_code == 303
    page = (await ui.client.get(NIGHTLY)).text
    assert "2026-04-01T00:00:00Z" in page and "max_runs" in page
