"""Process wiring: resolve where each store is, open it, and bring both schemas up to date."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from dispatcher.models import SchedulerOptions
from manage_db.migrate import migrate_store
from manage_db.store import ManageStore
from runtime_db import migrate as runtime_migrate
from runtime_db.api_keys import ensure_key
from runtime_db.engine import make_engine, make_session_factory
from timekeeper.embedded import read_stack_file, running_postgres_uri
from timekeeper.settings import Settings

log = logging.getLogger(__name__)


class StackUnavailable(RuntimeError):
    """A store this command needs is neither configured nor running in the data dir."""


@dataclass
class Stores:
    engine: Engine
    session_factory: sessionmaker[Session]
    manage: ManageStore

    def close(self) -> None:
        self.engine.dispose()


def resolve_runtime_url(settings: Settings) -> str:
    if settings.runtime_database_url:
        return settings.runtime_database_url
    uri = running_postgres_uri(settings.postgres_dir.resolve())
    if uri is None:
        raise StackUnavailable(
            "no runtime database: set TIMEKEEPER_RUNTIME_DATABASE_URL or start `timekeeper dev` "
            f"with TIMEKEEPER_DATA_DIR={settings.data_dir}"
        )
    return uri


def resolve_temporal_address(settings: Settings) -> str:
    if settings.temporal_address:
        return settings.temporal_address
    stack = read_stack_file(settings.stack_file)
    if stack is None or "temporal_address" not in stack:
        raise StackUnavailable(
            "no Temporal: set TIMEKEEPER_TEMPORAL_ADDRESS or start `timekeeper dev` "
            f"with TIMEKEEPER_DATA_DIR={settings.data_dir}"
        )
    return str(stack["temporal_address"])


def scheduler_options(settings: Settings) -> SchedulerOptions:
    """How this deployment's scheduler is started, wherever it is started from (a worker, the
    deploy hook, the audit's repair): its leads from the settings, and its minute's dispatches on
    the runs' queue, which a `runner` (or `all`) worker serves."""
    return SchedulerOptions(
        lead_ms=settings.one_time_lead_seconds * 1000,
        minute_lead_ms=settings.minute_lead_seconds * 1000,
        separate_runs_queue=True,
    )


def open_stores(settings: Settings, runtime_url: str | None = None) -> Stores:
    engine = make_engine(
        runtime_url or resolve_runtime_url(settings),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size // 4,
    )
    return Stores(
        engine=engine,
        session_factory=make_session_factory(engine),
        manage=ManageStore(settings.manage_store_file),
    )


async def connect_temporal(settings: Settings, address: str | None = None) -> Client:
    return await Client.connect(
        address or resolve_temporal_address(settings), namespace=settings.temporal_namespace
    )


def migrate_all(settings: Settings, stores: Stores) -> dict[str, object]:
    """Both sets of migrations, then the bootstrap admin key; safe to run any number of times."""
    runtime_migrate.upgrade(stores.engine)
    report = migrate_store(stores.manage)
    if settings.bootstrap_admin_key is not None:
        with stores.session_factory.begin() as session:
            ensure_key(
                session,
                settings.bootstrap_admin_key.get_secret_value(),
                tenant_id=None,
                is_admin=True,
                principal="bootstrap-admin",
            )
    return {
        "runtime_revision": runtime_migrate.current_revision(stores.engine),
        "manage_schema_version": report.target_version,
        "manage_branches_migrated": len(report.migrated),
    }
