"""Prometheus metrics, in one registry of their own that `/metrics` (API) and the worker's
metrics port expose. Labels never carry tenant, project or trigger ids: their number would grow
with every user (cardinality), and the invocation records already say which trigger did what.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

SCHEDULER_TICKS = Counter(
    "timekeeper_scheduler_ticks", "Dispatch ticks completed.", registry=REGISTRY
)
SCHEDULER_LAST_TICK = Gauge(
    "timekeeper_scheduler_last_tick_timestamp_seconds",
    "The instant (as_of) of the last completed tick, Unix seconds.",
    registry=REGISTRY,
)
DISPATCH_STARTED = Counter(
    "timekeeper_dispatch_started", "Runner workflows started by dispatch.", registry=REGISTRY
)
DISPATCH_DEFERRED = Counter(
    "timekeeper_dispatch_deferred",
    "Due triggers a tick left for the next one (its time budget ran out).",
    registry=REGISTRY,
)
DISPATCH_MISSED = Counter(
    "timekeeper_dispatch_missed",
    "Occurrences not fired: beyond their misfire grace, or coalesced (recorded as missed).",
    registry=REGISTRY,
)
FIRE_LAG = Histogram(
    "timekeeper_fire_lag_seconds",
    "From an occurrence's nominal instant to the start of its first delivery attempt.",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)
INVOCATIONS = Counter(
    "timekeeper_invocations", "Invocations ended, by final status.", ["status"], registry=REGISTRY
)
DELIVERY_ATTEMPTS = Counter(
    "timekeeper_delivery_attempts",
    "Delivery attempts, by outcome: `succeeded` or the error class.",
    ["outcome"],
    registry=REGISTRY,
)
DELIVERY_RESENDS = Counter(
    "timekeeper_delivery_resends",
    "Requests sent once more within their attempt: the reused keep-alive connection they went"
    " out on failed before any answer (the agent closed it as it was reused).",
    registry=REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "timekeeper_delivery_seconds",
    "How long one delivery attempt took.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
MANAGE_STORE_BYTES = Gauge(
    "timekeeper_manage_store_bytes",
    "Size of the manage store file, read at scrape time.",
    registry=REGISTRY,
)
