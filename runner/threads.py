"""Blocking store calls of async activities, run on a pool the worker chose for them."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

_T = TypeVar("_T")


async def in_thread(executor: Executor | None, fn: Callable[..., _T], *args: Any) -> _T:
    """`asyncio.to_thread` on `executor` (None: the loop's default pool), the activity's context
    going along. A worker gives the scheduler's work pools of its own, so that it never queues
    behind a minute's burst of runs in the default one."""
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    return await asyncio.get_running_loop().run_in_executor(executor, call)
