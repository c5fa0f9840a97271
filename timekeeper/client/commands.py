"""`timekeeper projects|agents|triggers|invocations ...`: the API's operations from a shell.

Resources are named by path, as in the API: `acme/web` is project `web` of tenant `acme`,
`acme/web/echo` its agent `echo`, `acme/web/echo/daily` that agent's trigger `daily`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from timekeeper.client.http import DEFAULT_URL, ApiClient, ApiError, default_api_key
from timekeeper.client.render import Column, as_json, fields, local_time, schedule_of, table

Handler = Callable[[argparse.Namespace, ApiClient], Any]
RESOURCES = ("projects", "agents", "triggers", "invocations", "alerts")


def _parts(ref: str, count: int, shape: str) -> list[str]:
    parts = ref.strip("/").split("/")
    if len(parts) != count or not all(parts):
        raise ApiError(f"expected {shape}, got {ref!r}")
    return parts


def _project(ref: str) -> str:
    tenant, project = _parts(ref, 2, "TENANT/PROJECT")
    return f"/v1/tenants/{tenant}/projects/{project}"


def _agent(ref: str) -> str:
    tenant, project, agent = _parts(ref, 3, "TENANT/PROJECT/AGENT")
    return f"/v1/tenants/{tenant}/projects/{project}/agents/{agent}"


def _trigger(ref: str) -> str:
    tenant, project, agent, trigger = _parts(ref, 4, "TENANT/PROJECT/AGENT/TRIGGER")
    return f"/v1/tenants/{tenant}/projects/{project}/agents/{agent}/triggers/{trigger}"


def _body(args: argparse.Namespace) -> dict[str, Any]:
    text = args.json
    if text.startswith("@"):
        with open(text[1:]) as handle:
            text = handle.read()
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ApiError(f"--json is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError("--json must be a JSON object")
    return body


PROJECT_COLUMNS: list[Column] = [("ID", lambda r: r["id"]), ("NAME", lambda r: r["name"])]
AGENT_COLUMNS: list[Column] = [
    ("ID", lambda r: r["id"]),
    ("NAME", lambda r: r["name"]),
    ("PROTOCOL", lambda r: r["endpoint"]["protocol"]),
    ("URL", lambda r: r["endpoint"]["url"]),
]
TRIGGER_COLUMNS: list[Column] = [
    ("ID", lambda r: r["id"]),
    ("STATUS", lambda r: r.get("status") or ("active" if r["enabled"] else "paused")),
    ("SCHEDULE", schedule_of),
    ("NEXT RUN", lambda r: local_time(r.get("next_run_at"), r.get("cron_timezone", "UTC"))),
]
INVOCATION_COLUMNS: list[Column] = [
    ("ID", lambda r: r["id"]),
    ("TRIGGER", lambda r: r["trigger_id"]),
    ("SCHEDULED FOR", lambda r: r["scheduled_for"]),
    ("KIND", lambda r: r["kind"]),
    ("STATUS", lambda r: r["status"]),
    ("ATTEMPTS", lambda r: r.get("attempt_count")),
]
ALERT_COLUMNS: list[Column] = [
    ("ID", lambda r: r["id"]),
    ("EVENTS", lambda r: ", ".join(r["events"])),
    ("URL", lambda r: r["url"]),
    ("SIGNED", lambda r: "yes" if r["secret_env"] else "no"),
]
DELIVERY_COLUMNS: list[Column] = [
    ("CREATED", lambda r: r["created_at"]),
    ("EVENT", lambda r: r["event"]),
    ("STATUS", lambda r: r["status"]),
    ("ATTEMPTS", lambda r: r["attempts"]),
    ("TRIGGER", lambda r: r["payload"].get("trigger_id")),
    ("ERROR", lambda r: r["last_error"]),
]
UPCOMING_COLUMNS: list[Column] = [
    ("UTC", lambda r: r["utc"]),
    ("LOCAL", lambda r: r["local"]),
    ("STARTS", lambda r: r.get("fire_at")),
    ("SKIPPED", lambda r: "yes" if r.get("skipped") else ""),
]
HISTORY_COLUMNS: list[Column] = [
    ("COMMIT", lambda r: r["commit"]),
    ("TIME", lambda r: r["time"]),
    ("AUTHOR", lambda r: r["author"]),
    ("MESSAGE", lambda r: r["message"]),
]


def _listing(columns: list[Column]) -> Callable[[Any, str], str]:
    def render(items: Any, output: str) -> str:
        return as_json(items) if output == "json" else table(items, columns)

    return render


def _one(value: Any, output: str) -> str:
    return as_json(value) if output == "json" or not isinstance(value, dict) else fields(value)


def _add(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    handler: Handler,
    render: Callable[[Any, str], str] = _one,
    *arguments: tuple[tuple[str, ...], dict[str, Any]],
) -> None:
    parser = sub.add_parser(name, help=help)
    for flags, options in arguments:
        parser.add_argument(*flags, **options)
    parser.add_argument(
        "--url",
        default=os.environ.get("TIMEKEEPER_URL", DEFAULT_URL),
        help="the API (default: TIMEKEEPER_URL, else the local stack)",
    )
    parser.add_argument(
        "--api-key", default=None, help="default: TIMEKEEPER_API_KEY, else a local dev's admin key"
    )
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    parser.set_defaults(handler=handler, render=render)


_REF = {"metavar": "REF"}
_JSON = (("--json",), {"required": True, "help": "the body: JSON, or @file"})


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the client command groups to the `timekeeper` parser."""
    projects = _group(sub, "projects", "projects of a tenant")
    _add(projects, "list", "list a tenant's projects", lambda a, c: c.pages(
        f"/v1/tenants/{a.ref}/projects"), _listing(PROJECT_COLUMNS),
        (("ref",), {"metavar": "TENANT"}))  # fmt: skip
    _add(projects, "get", "show a project", lambda a, c: c.call("GET", _project(a.ref)),
         _one, (("ref",), _REF))  # fmt: skip
    _add(projects, "create", "create a project", _create_project, _one,
         (("ref",), {"metavar": "TENANT/PROJECT"}), (("--name",), {"required": True}),
         (("--description",), {}))  # fmt: skip
    _add(projects, "delete", "delete a project", lambda a, c: c.call("DELETE", _project(a.ref)),
         _one, (("ref",), _REF))  # fmt: skip

    agents = _group(sub, "agents", "agents of a project")
    _add(agents, "list", "list a project's agents", lambda a, c: c.pages(
        _project(a.ref) + "/agents"), _listing(AGENT_COLUMNS), (("ref",), _REF))  # fmt: skip
    _add(agents, "get", "show an agent", lambda a, c: c.call("GET", _agent(a.ref)),
         _one, (("ref",), _REF))  # fmt: skip
    endpoint: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
        (("ref",), _REF),
        (("--name",), {"required": True}),
        (("--endpoint",), {"required": True, "help": "the agent's URL"}),
        (("--protocol",), {"choices": ("webhook", "a2a"), "default": "webhook"}),
        (("--auth-header-env",), {}),
    )
    _add(agents, "create", "create an agent", _put_agent, _one, *endpoint)
    _add(agents, "update", "replace an agent's definition", _put_agent, _one, *endpoint)
    _add(agents, "delete", "delete an agent", lambda a, c: c.call("DELETE", _agent(a.ref)),
         _one, (("ref",), _REF))  # fmt: skip

    triggers = _group(sub, "triggers", "scheduled triggers of an agent")
    _add(triggers, "list", "list an agent's triggers", lambda a, c: c.pages(
        _agent(a.ref) + "/triggers"), _listing(TRIGGER_COLUMNS), (("ref",), _REF))  # fmt: skip
    _add(triggers, "get", "show a trigger", lambda a, c: c.call("GET", _trigger(a.ref)),
         _one, (("ref",), _REF))  # fmt: skip
    _add(triggers, "create", "create a trigger", lambda a, c: c.call(
        "POST", _agent(a.ref) + "/triggers", _body(a)), _one, (("ref",), _REF), _JSON)  # fmt: skip
    _add(triggers, "update", "change the fields sent", lambda a, c: c.call(
        "PATCH", _trigger(a.ref), _body(a)), _one, (("ref",), _REF), _JSON)  # fmt: skip
    _add(triggers, "delete", "delete a trigger", lambda a, c: c.call(
        "DELETE", _trigger(a.ref)), _one, (("ref",), _REF))  # fmt: skip
    _add(triggers, "enable", "enable a trigger", lambda a, c: c.call(
        "POST", _trigger(a.ref) + "/enable"), _one, (("ref",), _REF))  # fmt: skip
    _add(triggers, "disable", "pause a trigger", lambda a, c: c.call(
        "POST", _trigger(a.ref) + "/disable", {"note": a.note} if a.note else None), _one,
        (("ref",), _REF), (("--note",), {"help": "why; shown while paused"}))  # fmt: skip
    _add(triggers, "run", "run a trigger now", lambda a, c: c.call(
        "POST", _trigger(a.ref) + "/run"), _one, (("ref",), _REF))  # fmt: skip
    _add(triggers, "upcoming", "the next instants", _upcoming, _listing(UPCOMING_COLUMNS),
         (("ref",), _REF), (("--count",), {"type": int, "default": 5}))  # fmt: skip
    _add(triggers, "skip", "mark future occurrences not to fire", _skip, _one, (("ref",), _REF),
         (("--next",), {"type": int, "help": "the next N occurrences"}),
         (("--instant",), {"action": "append", "dest": "instants"}))  # fmt: skip
    _add(triggers, "unskip", "let skipped occurrences fire", lambda a, c: c.call(
        "POST", _trigger(a.ref) + "/unskip", {"instants": a.instants}), _one, (("ref",), _REF),
        (("--instant",), {"action": "append", "dest": "instants", "required": True}))  # fmt: skip
    _add(triggers, "backfill", "run every instant of a past range", lambda a, c: c.call(
        "POST", _trigger(a.ref) + "/backfill", {"start": a.start, "end": a.end}), _one,
        (("ref",), _REF), (("--start",), {"required": True}),
        (("--end",), {"required": True}))  # fmt: skip
    _add(triggers, "preview", "describe a schedule and list its next instants", _preview,
         _listing(UPCOMING_COLUMNS), (("ref",), {"metavar": "TENANT/PROJECT"}),
         (("--cron",), {}), (("--run-at",), {}), (("--timezone",), {"default": "UTC"}),
         (("--count",), {"type": int, "default": 5}))  # fmt: skip
    _add(triggers, "history", "every version", lambda a, c: c.pages(
        _trigger(a.ref) + "/history"), _listing(HISTORY_COLUMNS), (("ref",), _REF))  # fmt: skip
    _add(triggers, "revert", "restore a version", lambda a, c: c.call(
        "POST", _trigger(a.ref) + "/revert", {"commit": a.commit}), _one,
        (("ref",), _REF), (("--commit",), {"required": True}))  # fmt: skip

    invocations = _group(sub, "invocations", "runs of a project or of one trigger")
    _add(invocations, "list", "newest first", _list_invocations, _listing(INVOCATION_COLUMNS),
         (("ref",), {"metavar": "PROJECT_OR_TRIGGER_REF"}), (("--status",), {}))  # fmt: skip
    for name, verb in (("get", "GET"), ("cancel", "POST"), ("rerun", "POST")):
        _add(invocations, name, f"{name} an invocation", _invocation(name, verb), _one,
             (("ref",), {"metavar": "TENANT/PROJECT"}), (("id",), {}))  # fmt: skip
    _register_alerts(sub)


def _register_alerts(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    alerts = _group(sub, "alerts", "alert webhooks of a project")
    _add(alerts, "list", "list a project's alert hooks", lambda a, c: c.pages(
        _project(a.ref) + "/alerts"), _listing(ALERT_COLUMNS), (("ref",), _REF))  # fmt: skip
    _add(alerts, "get", "show an alert hook", lambda a, c: c.call("GET", _alert(a.ref)),
         _one, (("ref",), _REF))  # fmt: skip
    hook: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
        (("ref",), {"metavar": "TENANT/PROJECT/ALERT"}),
        (("--hook-url",), {"required": True, "help": "where alerts are posted"}),
        (("--event",), {"required": True, "action": "append", "dest": "events",
                        "help": "an event to send (repeat for several)"}),
        (("--secret-env",), {"help": "worker env var holding the HMAC secret"}),
    )  # fmt: skip
    _add(alerts, "create", "create an alert hook", _put_alert, _one, *hook)
    _add(alerts, "update", "replace an alert hook", _put_alert, _one, *hook)
    _add(alerts, "delete", "delete an alert hook", lambda a, c: c.call("DELETE", _alert(a.ref)),
         _one, (("ref",), _REF))  # fmt: skip
    _add(alerts, "deliveries", "an alert hook's latest deliveries", lambda a, c: c.call(
        "GET", _alert(a.ref) + "/deliveries")["items"], _listing(DELIVERY_COLUMNS),
        (("ref",), _REF))  # fmt: skip


def _alert(ref: str) -> str:
    tenant, project, alert = _parts(ref, 3, "TENANT/PROJECT/ALERT")
    return f"/v1/tenants/{tenant}/projects/{project}/alerts/{alert}"


def _put_alert(args: argparse.Namespace, client: ApiClient) -> Any:
    body: dict[str, Any] = {"url": args.hook_url, "events": args.events}
    if args.secret_env:
        body["secret_env"] = args.secret_env
    return client.call("PUT", _alert(args.ref), body)


def _group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    parser = sub.add_parser(name, help=help)
    return parser.add_subparsers(dest="action", required=True)


def _create_project(args: argparse.Namespace, client: ApiClient) -> Any:
    tenant, project = _parts(args.ref, 2, "TENANT/PROJECT")
    body = {"id": project, "name": args.name}
    if args.description:
        body["description"] = args.description
    return client.call("POST", f"/v1/tenants/{tenant}/projects", body)


def _put_agent(args: argparse.Namespace, client: ApiClient) -> Any:
    endpoint: dict[str, str] = {"url": args.endpoint, "protocol": args.protocol}
    if args.auth_header_env:
        endpoint["auth_header_env"] = args.auth_header_env
    return client.call("PUT", _agent(args.ref), {"name": args.name, "endpoint": endpoint})


def _upcoming(args: argparse.Namespace, client: ApiClient) -> Any:
    answer = client.call("GET", _trigger(args.ref) + "/upcoming", params={"count": args.count})
    return answer["instants"]


def _skip(args: argparse.Namespace, client: ApiClient) -> Any:
    body: dict[str, Any] = {"next": args.next} if args.next else {"instants": args.instants}
    return client.call("POST", _trigger(args.ref) + "/skip", body)


def _preview(args: argparse.Namespace, client: ApiClient) -> Any:
    body: dict[str, Any] = {"cron_timezone": args.timezone, "count": args.count}
    if args.cron:
        body["cron_expression"] = args.cron
    if args.run_at:
        body["run_at"] = args.run_at
    answer = client.call("POST", _project(args.ref) + "/schedule-preview", body)
    if args.output == "table":
        print(answer["schedule_description"])
    return answer["instants"]


def _list_invocations(args: argparse.Namespace, client: ApiClient) -> Any:
    depth = len(args.ref.strip("/").split("/"))
    path = _project(args.ref) if depth == 2 else _trigger(args.ref)
    params = {"status": args.status} if args.status else None
    return client.pages(path + "/invocations", params)


def _invocation(name: str, verb: str) -> Handler:
    def handler(args: argparse.Namespace, client: ApiClient) -> Any:
        path = f"{_project(args.ref)}/invocations/{args.id}"
        return client.call(verb, path if name == "get" else f"{path}/{name}")

    return handler


def run_client(args: argparse.Namespace) -> int:
    """Run one client command: print its answer, or the API's message and exit non-zero."""
    client = ApiClient(args.url, args.api_key or default_api_key())
    try:
        result = args.handler(args, client)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if result is not None:
        print(args.render(result, args.output))
    return 0
