"""The `timekeeper` command: dev stack, API, worker, migrations and keys.

temporalio's native threads can abort the interpreter at shutdown (sdk-python #300), so every
command flushes and leaves through `os._exit` with its own status once everything is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata

import timekeeper  # noqa: F401  (doltlite bootstrap first)
from telemetry.logs import configure_logging
from timekeeper.client.commands import RESOURCES, run_client
from timekeeper.client.commands import register as register_client_commands
from timekeeper.settings import Settings, load_settings
from timekeeper.wiring import (
    StackUnavailable,
    migrate_all,
    open_stores,
    resolve_temporal_address,
    scheduler_options,
)

Command = Callable[[argparse.Namespace, Settings], int]


def _cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    from timekeeper.dev import run_dev

    return asyncio.run(run_dev(settings))


def _cmd_serve(run_api: bool, run_worker: bool) -> Command:
    def command(args: argparse.Namespace, settings: Settings) -> int:
        from timekeeper.serving import install_stop_handlers, serve

        async def main() -> int:
            stores = open_stores(settings)
            try:
                migrate_all(settings, stores)
                stop = asyncio.Event()
                install_stop_handlers(stop)
                await serve(
                    settings,
                    stores,
                    temporal_address=resolve_temporal_address(settings),
                    run_api=run_api,
                    run_worker=run_worker,
                    stop=stop,
                )
            finally:
                stores.close()
            return 0

        return asyncio.run(main())

    return command


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from timekeeper.embedded import EmbeddedPostgres

    embedded = None
    runtime_url = settings.runtime_database_url
    if runtime_url is None:
        embedded = EmbeddedPostgres(settings.postgres_dir)
        runtime_url = embedded.start()
    try:
        stores = open_stores(settings, runtime_url)
        try:
            print(json.dumps(migrate_all(settings, stores), sort_keys=True))
        finally:
            stores.close()
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from runtime_db.api_keys import create_key

    if not args.admin and not args.tenant:
        print("error: give --tenant T, or --admin", file=sys.stderr)
        return 2
    stores = open_stores(settings)
    try:
        with stores.session_factory.begin() as session:
            key, row = create_key(
                session, tenant_id=args.tenant, is_admin=args.admin, principal=args.principal
            )
            principal = row.principal
    finally:
        stores.close()
    print(key)
    print(
        f"principal: {principal} (the key is shown once; only its hash is stored)", file=sys.stderr
    )
    return 0


def _cmd_restart_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    from deploy_hooks.client import restart_scheduler

    if settings.deploy_secret is None:
        print("error: TIMEKEEPER_DEPLOY_SECRET is not set", file=sys.stderr)
        return 2
    outcome = restart_scheduler(
        args.url,
        args.deployment_id,
        settings.deploy_secret.get_secret_value(),
        attempts=args.attempts,
        backoff_seconds=args.backoff,
    )
    if not outcome.ok:
        print(f"error: {outcome.message}", file=sys.stderr)
        return 1
    print(json.dumps(outcome.response, sort_keys=True))
    return 0


def _cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from audit.command import EXIT_CANNOT_RUN, audit_command
    from audit.run import AuditContext
    from timekeeper.wiring import connect_temporal

    if not settings.manage_store_file.exists():
        print(f"error: no manage store at {settings.manage_store_file}", file=sys.stderr)
        return EXIT_CANNOT_RUN

    async def main() -> int:
        stores = open_stores(settings)
        try:
            try:
                client = await connect_temporal(settings)
            except (StackUnavailable, RuntimeError, OSError) as exc:
                print(
                    f"warning: Temporal unavailable, scheduler checks skipped: {exc}",
                    file=sys.stderr,
                )
                client = None
            ctx = AuditContext(
                store=stores.manage,
                session_factory=stores.session_factory,
                temporal=client,
                tick_seconds=settings.tick_seconds,
                task_queue=settings.effective_task_queue,
                deployment_id=settings.deployment_id,
                scheduler=scheduler_options(settings),
            )
            return await audit_command(
                ctx, fix=args.fix, as_json=args.json, out=sys.stdout, err=sys.stderr
            )
        finally:
            stores.close()

    return asyncio.run(main())


def _version() -> str:
    try:
        return metadata.version("timekeeper")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="timekeeper", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"timekeeper {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="start the embedded stack: postgres, temporal, worker and API")
    sub.add_parser("api", help="serve the HTTP API against configured stores")
    sub.add_parser("worker", help="run the Temporal worker against configured stores")
    sub.add_parser("migrate", help="apply runtime and manage migrations (safe to repeat)")
    keys = sub.add_parser("keys", help="API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--tenant", help="tenant the key may act for")
    create.add_argument("--admin", action="store_true", help="a key that sees all tenants")
    create.add_argument("--principal", help="name recorded as author of its changes")
    restart = sub.add_parser(
        "restart-scheduler", help="post-deploy: move the scheduler onto a deployment (CI runs it)"
    )
    restart.add_argument("--url", required=True, help="base URL of the Timekeeper API")
    restart.add_argument("--deployment-id", required=True, help="the deployment just rolled out")
    restart.add_argument("--attempts", type=int, default=5, help="tries before giving up")
    restart.add_argument("--backoff", type=float, default=2.0, help="first retry delay, seconds")
    register_client_commands(sub)
    audit = sub.add_parser(
        "audit", help="check the stores and the scheduler agree; exit 0 healthy, 1 found, 2 failed"
    )
    audit.add_argument("--fix", action="store_true", help="repair what is safe to repair")
    audit.add_argument("--json", action="store_true", help="print the stable JSON document")
    return parser


_COMMANDS: dict[str, Command] = {
    "dev": _cmd_dev,
    "api": _cmd_serve(run_api=True, run_worker=False),
    "worker": _cmd_serve(run_api=False, run_worker=True),
    "migrate": _cmd_migrate,
    "keys": _cmd_keys_create,
    "restart-scheduler": _cmd_restart_scheduler,
    "audit": _cmd_audit,
}


def run(argv: Sequence[str] | None = None) -> int:
    # pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR it warns
    # and falls back to /tmp, which is fine for its lock file.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    args = build_parser().parse_args(argv)
    if args.command in RESOURCES:
        return run_client(args)
    settings = load_settings()
    log_format = settings.log_format or ("text" if args.command == "dev" else "json")
    configure_logging(settings.log_level, log_format)
    try:
        return _COMMANDS[args.command](args, settings)
    except StackUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def main() -> None:
    status = run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
