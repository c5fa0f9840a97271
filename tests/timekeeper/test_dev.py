"""`timekeeper dev`: one command starts everything, SIGTERM stops everything, data survives."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from timekeeper.embedded import free_port


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEKEEPER_")}
    env.update(TIMEKEEPER_DATA_DIR=str(data_dir), TIMEKEEPER_API_PORT=str(port))
    return subprocess.Popen(
        [sys.executable, "-m", "timekeeper", "dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(process: subprocess.Popen[str], port: int) -> httpx.Response:
    """Poll readiness (a condition, not a guess) for up to 60 s, failing fast if dev exits."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise AssertionError("timekeeper dev did not become healthy within 60 s")


def _processes_using(data_dir: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline}")
    return found


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return output


def test_dev_serves_health_then_stops_everything_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "tk"
    port = free_port()

    first = _start(data_dir, port)
    try:
        health = _wait_healthy(first, port)
    finally:
        output = _stop(first)
    assert health.json() == {
        "status": "ok",
        "stores": {"runtime_db": "ok", "manage_db": "ok", "temporal": "ok"},
    }
    assert first.returncode == 0, output
    assert _processes_using(data_dir) == []
    assert f"Timekeeper API:   http://127.0.0.1:{port}" in output
    admin_key = (data_dir / "admin-key").read_text().strip()
    assert f"Admin API key:    {admin_key}" in output
    manage_size = (data_dir / "manage.db").stat().st_size

    second = _start(data_dir, port)
    try:
        _wait_healthy(second, port)
    finally:
        output = _stop(second)
    assert second.returncode == 0, output
    assert f"Admin API key:    {admin_key}" in output
    assert (data_dir / "manage.db").stat().st_size >= manage_size
    assert _processes_using(data_dir) == []
