"""The manage schema, as an ordered list of migrations applied to `main` and every project branch.

A migration that adds something the scheduler reads must carry a `backfill` that fills it for
rows that already exist: adding `next_run_at` without one would leave every existing trigger
unscheduled, silently.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    backfill: Callable[[sqlite3.Connection], None] | None = field(default=None, compare=False)


_V1 = (
    """create table schema_version (
        id integer primary key check (id = 1),
        version integer not null
    )""",
    "insert into schema_version (id, version) values (1, 0)",
    """create table projects (
        id text primary key,
        tenant_id text not null,
        name text not null,
        description text,
        created_at text not null,
        updated_at text not null
    )""",
    """create table agents (
        id text primary key,
        name text not null,
        endpoint_url text not null,
        protocol text not null,
        auth_header_env text,
        created_at text not null,
        updated_at text not null
    )""",
    """create table triggers (
        id text primary key,
        agent_id text not null,
        name text not null,
        description text,
        enabled integer not null,
        cron_expression text,
        run_at text,
        cron_timezone text not null default 'UTC',
        message_template text not null,
        payload text not null default '{}',
        max_retries integer not null,
        retry_delay_seconds integer not null,
        timeout_seconds integer not null,
        overlap_policy text not null,
        misfire_grace_seconds integer not null,
        next_run_at text,
        last_scheduled_for text,
        version integer not null,
        request_key text,
        created_at text not null,
        updated_at text not null
    )""",
    "create index triggers_due on triggers (enabled, next_run_at)",
    "create index triggers_agent on triggers (agent_id)",
    "create index triggers_request_key on triggers (request_key)",
)

# `catchup`: after downtime within the grace, `latest` fires only the latest occurrence, `all`
# fires every one, in order. Existing triggers keep today's behaviour through the default.
_V2 = ("alter table triggers add column catchup text not null default 'latest'",)

# `pause`: who disabled a trigger, when, and why (JSON), kept while it stays disabled. Triggers
# disabled before this version have none: their pause is unknown.
_V3 = ("alter table triggers add column pause text",)

# Scheduling controls: jitter, a window, a run limit, and occurrences to skip (JSON list).
_V4 = (
    "alter table triggers add column jitter_seconds integer not null default 0",
    "alter table triggers add column start_at text",
    "alter table triggers add column end_at text",
    "alter table triggers add column max_runs integer",
    "alter table triggers add column skipped text",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "projects, agents and triggers", _V1),
    Migration(2, "catchup policy of triggers", _V2),
    Migration(3, "pause notes of triggers", _V3),
    Migration(4, "scheduling controls of triggers", _V4),
)


def latest_version(migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    return migrations[-1].version if migrations else 0
