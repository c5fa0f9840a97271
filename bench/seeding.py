"""What the benchmarks share: trigger rows seeded straight into doltlite (bypassing the API for
speed), and how a benchmark runs and prints."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from manage_db.triggers import TriggerRow

CREATED = "2026-01-01T00:00:00Z"


def bench_trigger(index: int, *, cron_expression: str, next_run_at: str) -> TriggerRow:
    return TriggerRow(
        id=f"t{index}",
        agent_id="agent-1",
        name=f"trigger {index}",
        description=None,
        enabled=True,
        cron_expression=cron_expression,
        run_at=None,
        cron_timezone="UTC",
        message_template="hello",
        payload="{}",
        max_retries=0,
        retry_delay_seconds=1,
        timeout_seconds=10,
        overlap_policy="allow",
        misfire_grace_seconds=3600,
        catchup="latest",
        next_run_at=next_run_at,
        last_scheduled_for=None,
        version=1,
        request_key=None,
        created_at=CREATED,
        updated_at=CREATED,
    )


def run_and_print(
    run: Callable[[argparse.Namespace, Path], Awaitable[dict[str, Any]]], args: argparse.Namespace
) -> None:
    """Run a benchmark in a temp dir (its path short enough for pgserver's socket), print its
    JSON, and leave before temporalio's native threads can abort a finalizing interpreter."""
    with tempfile.TemporaryDirectory(prefix="tkb", dir="/tmp") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(result, indent=2))
    sys.stdout.flush()
    os._exit(0)
