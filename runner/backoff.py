"""Retry timing, pure and deterministic: the workflow sleeps by it, and the invocation row's
`deadline_at` is derived from the same numbers so the audit can tell a stale run from a slow one.

The random draw is a parameter (the workflow passes `workflow.random().random()`), so this module
never touches a clock or a random source itself.
"""

from __future__ import annotations

# Exponential backoff stops growing here; jitter comes on top.
MAX_BACKOFF_SECONDS = 3600.0
# Up to +10% so that many triggers failing against one agent do not retry in lockstep.
JITTER_FRACTION = 0.1
# An agent's Retry-After is honoured up to this; beyond it the agent is asking too much.
MAX_RETRY_AFTER_SECONDS = 900.0
# What a deliver activity may take beyond the HTTP timeout: the cancel check and the attempt row.
DELIVERY_MARGIN_SECONDS = 30.0


def backoff_seconds(retry_delay_seconds: float, retry: int, draw: float) -> float:
    """Delay before retry number `retry` (1 for the first): `delay * 2**(retry-1)`, capped,
    plus `draw` (in [0, 1)) times the jitter fraction."""
    base = min(retry_delay_seconds * 2.0 ** (retry - 1), MAX_BACKOFF_SECONDS)
    return base * (1 + JITTER_FRACTION * draw)


def retry_delay(
    retry_delay_seconds: float, retry: int, draw: float, retry_after_seconds: float | None
) -> float:
    """The agent's Retry-After when it sent one (bounded), else the jittered backoff."""
    if retry_after_seconds is not None:
        return min(max(retry_after_seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
    return backoff_seconds(retry_delay_seconds, retry, draw)


def worst_case_seconds(
    max_retries: int, retry_delay_seconds: float, timeout_seconds: float
) -> float:
    """The longest a run with these settings can take once it starts delivering."""
    attempts = (max_retries + 1) * (timeout_seconds + DELIVERY_MARGIN_SECONDS)
    waits = sum(
        max(backoff_seconds(retry_delay_seconds, retry, 1.0), MAX_RETRY_AFTER_SECONDS)
        for retry in range(1, max_retries + 1)
    )
    return attempts + waits
