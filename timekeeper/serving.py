"""Run the API, the worker, or both, in one asyncio process until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import timedelta

import uvicorn
from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.worker import Worker

from alerts.pump import AlertPump
from audit.run import AuditContext
from deploy_hooks.routes import DeployContext
from dispatcher.control import ensure_scheduler
from dispatcher.maintenance import CompactionPolicy, StoreMaintenance
from runner.agents.pools import agent_clients
from service.context import ServiceContext
from telemetry.metrics import REGISTRY
from timekeeper.app import create_app
from timekeeper.open_files import OTHER_HANDLES, raise_open_files_limit
from timekeeper.settings import Settings, task_queue_for
from timekeeper.wiring import Stores, connect_temporal, scheduler_options
from timekeeper.worker import WorkerDeps, build_workers, run_slots

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process-level handler stops everything."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _audit_context(settings: Settings, stores: Stores, client: Client) -> AuditContext:
    return AuditContext(
        store=stores.manage,
        session_factory=stores.session_factory,
        temporal=client,
        tick_seconds=settings.tick_seconds,
        task_queue=settings.effective_task_queue,
        deployment_id=settings.deployment_id,
        scheduler=scheduler_options(settings),
    )


def install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _maintenance(settings: Settings, stores: Stores) -> StoreMaintenance:
    policy = CompactionPolicy(
        growth_factor=settings.compact_growth_factor,
        min_growth_bytes=settings.compact_min_growth_bytes,
        min_interval=timedelta(seconds=settings.compact_min_interval_seconds),
        check_every=timedelta(seconds=settings.compact_check_seconds),
    )
    return StoreMaintenance(stores.manage, stores.session_factory, policy)


async def serve(
    settings: Settings,
    stores: Stores,
    *,
    temporal_address: str,
    run_api: bool,
    run_worker: bool,
    stop: asyncio.Event,
    on_ready: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set, then shut down the API and the worker cleanly."""
    client = await connect_temporal(settings, temporal_address)
    tasks: list[asyncio.Task[None]] = []
    server: _Server | None = None
    async with AsyncExitStack() as clients:
        with (
            ThreadPoolExecutor(max_workers=64) as executor,
            ThreadPoolExecutor(max_workers=4, thread_name_prefix="timekeeper-dispatch") as ticks,
            ThreadPoolExecutor(max_workers=8, thread_name_prefix="timekeeper-own-runs") as own,
        ):
            workers: list[Worker] = []
            if run_worker:
                # The store calls of the runs on the runs' queue go to the loop's default pool,
                # whose default size (CPU count + 4 threads) would queue a minute's burst behind
                # six. The scheduler's have threads of their own (`ticks`), and so do the runs on
                # its queue (`own`): neither queues behind a burst.
                asyncio.get_running_loop().set_default_executor(
                    ThreadPoolExecutor(max_workers=32, thread_name_prefix="timekeeper-io")
                )
                # A connection for every run the worker holds, over pools small enough that
                # httpcore's per-request passes stay short (runner.agents.pools says why).
                slots = run_slots(settings)
                raise_open_files_limit(slots + OTHER_HANDLES)
                http = await clients.enter_async_context(agent_clients(slots))
                deps = WorkerDeps(
                    settings,
                    client,
                    stores.session_factory,
                    stores.manage,
                    http,
                    dispatch_executor=ticks,
                    scheduler_runs_executor=own,
                )
                workers = build_workers(settings.worker_role, deps, executor)
                if settings.metrics_port is not None:
                    start_http_server(settings.metrics_port, settings.api_host, registry=REGISTRY)
                tasks.extend(asyncio.create_task(worker.run()) for worker in workers)
            if run_worker and settings.worker_role != "runner":
                pump = AlertPump(
                    client,
                    stores.session_factory,
                    settings.effective_task_queue,
                    settings.tick_seconds,
                )
                tasks.append(asyncio.create_task(pump.run(stop)))
                tasks.append(asyncio.create_task(_maintenance(settings, stores).run(stop)))
                try:
                    await ensure_scheduler(
                        client,
                        stores.session_factory,
                        deployment_id=settings.deployment_id,
                        task_queue=settings.effective_task_queue,
                        tick_seconds=settings.tick_seconds,
                        options=scheduler_options(settings),
                    )
                except Exception:
                    log.exception("could not ensure a scheduler is running")
            if run_api:
                ctx = ServiceContext(
                    session_factory=stores.session_factory,
                    store=stores.manage,
                    temporal=client,
                    task_queue=settings.effective_task_queue,
                    max_message_bytes=settings.max_message_bytes,
                    tick_seconds=settings.tick_seconds,
                )
                deploy = DeployContext(
                    session_factory=stores.session_factory,
                    temporal=client,
                    deploy_secret=settings.deploy_secret.get_secret_value()
                    if settings.deploy_secret
                    else None,
                    tick_seconds=settings.tick_seconds,
                    task_queue_for=task_queue_for,
                    scheduler=scheduler_options(settings),
                )
                config = uvicorn.Config(
                    create_app(
                        ctx,
                        deploy,
                        _audit_context(settings, stores, client),
                        ui_secret=settings.ui_session_secret.get_secret_value()
                        if settings.ui_session_secret
                        else None,
                    ),
                    host=settings.api_host,
                    port=settings.api_port,
                    log_level=settings.log_level.lower(),
                    log_config=None,  # the process's own logging configuration, one format
                    lifespan="off",
                )
                server = _Server(config)
                tasks.append(asyncio.create_task(server.serve()))
            if on_ready is not None:
                on_ready.set()
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and task.exception() is not None:
                    log.error("a component stopped", exc_info=task.exception())
            if server is not None:
                server.should_exit = True
            for worker in workers:
                await worker.shutdown()
            stopper.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
