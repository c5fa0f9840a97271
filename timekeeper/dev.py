"""`timekeeper dev`: the whole stack on one machine, stopped cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from pathlib import Path

from runtime_db.api_keys import ensure_key
from timekeeper.embedded import (
    DataDirBusy,
    DataDirLock,
    EmbeddedPostgres,
    EmbeddedTemporal,
    write_stack_file,
)
from timekeeper.serving import install_stop_handlers, serve
from timekeeper.settings import Settings
from timekeeper.wiring import Stores, migrate_all, open_stores

log = logging.getLogger(__name__)


def _dev_admin_key(settings: Settings, stores: Stores) -> str:
    """The bootstrap key when set; otherwise one generated on first run and kept in the data dir."""
    if settings.bootstrap_admin_key is not None:
        return settings.bootstrap_admin_key.get_secret_value()
    path: Path = settings.data_dir / "admin-key"
    if path.exists():
        key = path.read_text().strip()
    else:
        key = "tk_" + secrets.token_urlsafe(32)
        path.write_text(key + "\n")
        path.chmod(0o600)
    with stores.session_factory.begin() as session:
        ensure_key(session, key, tenant_id=None, is_admin=True, principal="dev-admin")
    return key


async def run_dev(settings: Settings) -> int:
    """The embedded stack for one data dir, owned by this process while it runs: a PostgreSQL
    or Temporal server a killed run left behind is taken over (PostgreSQL) or stopped and
    started afresh (Temporal), and everything stops with this process."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
    except DataDirBusy as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        return await _run_owned(settings)
    finally:
        lock.release()


async def _run_owned(settings: Settings) -> int:
    stop = asyncio.Event()
    install_stop_handlers(stop)
    # Holding the data dir's lock, any PostgreSQL serving it was left by a killed run: adopt
    # it, and stop it with everything else.
    postgres = EmbeddedPostgres(settings.postgres_dir, owns_attached=True)
    temporal = EmbeddedTemporal(
        settings.data_dir / "temporal",
        port=settings.temporal_port,
        ui_port=settings.temporal_ui_port,
    )
    stores: Stores | None = None
    try:
        runtime_url = settings.runtime_database_url or await asyncio.to_thread(postgres.start)
        temporal_address = settings.temporal_address
        if not temporal_address:
            temporal_address = await asyncio.to_thread(temporal.start)
        stores = open_stores(settings, runtime_url)
        await asyncio.to_thread(migrate_all, settings, stores)
        admin_key = _dev_admin_key(settings, stores)
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        write_stack_file(
            settings.stack_file,
            temporal_address=temporal_address,
            temporal_ui=temporal.ui_url if temporal.process else "",
            temporal_pid=temporal.process.pid if temporal.process else 0,
            api_url=api_url,
        )
        ready = asyncio.Event()
        serving = asyncio.create_task(
            serve(
                settings,
                stores,
                temporal_address=temporal_address,
                run_api=True,
                run_worker=True,
                stop=stop,
                on_ready=ready,
            )
        )
        await asyncio.wait(
            [asyncio.create_task(ready.wait()), serving], return_when=asyncio.FIRST_COMPLETED
        )
        if ready.is_set() and not serving.done():
            print(f"Timekeeper API:   {api_url}", flush=True)
            print(f"Dashboard:        {api_url}/ui/ (sign in with the admin key)", flush=True)
            if temporal.process:
                print(f"Temporal UI:      {temporal.ui_url}", flush=True)
            print(f"Temporal address: {temporal_address}", flush=True)
            print(f"Admin API key:    {admin_key}", flush=True)
            print("Press Ctrl-C to stop.", flush=True)
        await serving
        return 0
    finally:
        if stores is not None:
            stores.close()
        settings.stack_file.unlink(missing_ok=True)
        await asyncio.to_thread(temporal.stop)
        await asyncio.to_thread(postgres.stop)
        log.info("stopped; pid %s", os.getpid())
