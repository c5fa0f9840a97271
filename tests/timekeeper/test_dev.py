"""`timekeeper dev`: one command starts everything, SIGTERM stops everything, data survives."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from examples.echo_agent import create_app as create_echo_agent
from tests.runner.conftest import serve
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


def _servers(data_dir: Path) -> list[str]:
    """The servers serving this data dir: its PostgreSQL postmaster and Temporal dev server."""
    kinds = []
    for line in _processes_using(data_dir):
        if "temporal server start-dev" in line:
            kinds.append("temporal")
        elif "postgres" in line:
            kinds.append("postgres")
    return sorted(kinds)


def _gone(data_dir: Path, within: float = 10.0) -> list[str]:
    """What still runs for `data_dir` once the processes a stopped stack ended have exited
    (a condition polled for a bounded time: the kernel reaps a stopped server a moment after
    the command that stopped it returns)."""
    deadline = time.monotonic() + within
    while (left := _processes_using(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _a_run_completes(port: int, admin_key: str, agent_url: str) -> str:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=10,
    ) as api:
        return _run_once(api, agent_url)


def _run_once(api: httpx.Client, agent_url: str) -> str:
    project = "/v1/tenants/acme/projects/web"
    api.post("/v1/tenants/acme/projects", json={"id": "web", "name": "Web"})
    api.put(
        f"{project}/agents/echo",
        json={"name": "Echo", "endpoint": {"url": f"{agent_url}/webhook", "protocol": "webhook"}},
    )
    trigger = f"{project}/agents/echo/triggers/daily"
    api.post(
        f"{project}/agents/echo/triggers",
        json={
            "id": "daily",
            "name": "Daily",
            "cron_expression": "0 9 * * *",
            "message_template": "hi",
        },
    )
    started = api.post(f"{trigger}/run")
    assert started.status_code == 202, started.text
    invocation = f"{trigger}/invocations/{started.json()['invocation_id']}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = str(api.get(invocation).json()["status"])
        if status not in ("pending", "running"):
            return status
        time.sleep(0.25)
    raise AssertionError("the run did not end within 30 s")


def test_after_a_hard_kill_the_next_run_takes_over_one_of_each_and_stops_them(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "tk"
    port = free_port()
    first = _start(data_dir, port)
    _wait_healthy(first, port)
    first.kill()  # SIGKILL: no cleanup at all
    first.communicate(timeout=30)
    assert _servers(data_dir) == ["postgres", "temporal"]  # the orphans a hard kill leaves

    second = _start(data_dir, port)
    try:
        _wait_healthy(second, port)
        servers = _servers(data_dir)
        admin_key = (data_dir / "admin-key").read_text().strip()
        with serve(create_echo_agent()) as agent_url:
            status = _a_run_completes(port, admin_key, agent_url)
    finally:
        second.send_signal(signal.SIGINT)
        output, _ = second.communicate(timeout=60)
    assert servers == ["postgres", "temporal"], output
    assert status == "completed"
    assert second.returncode == 0, output
    assert _gone(data_dir) == [], output


def test_a_second_dev_on_a_data_dir_in_use_is_refused_with_the_owner(tmp_path: Path) -> None:
    data_dir = tmp_path / "tk"
    port = free_port()
    first = _start(data_dir, port)
    try:
        _wait_healthy(first, port)
        second = _start(data_dir, free_port())
        output, _ = second.communicate(timeout=60)
    finally:
        _stop(first)
    assert second.returncode == 1
    assert (
        f"error: another `timekeeper dev` (pid {first.pid}) is running on {data_dir}; stop it"
        " first, or set TIMEKEEPER_DATA_DIR to another directory" in output
    )
    assert _processes_using(data_dir) == []
