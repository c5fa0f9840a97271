"""What the audit can find and what it can do about it: check ids, findings and repairs.

Check ids and subject keys are part of the stable JSON document (docs/audit.md); add new ones,
never rename them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NEXT_RUN_MISSING = "next_run_missing"
TRIGGER_OVERDUE = "trigger_overdue"
SCHEDULE_INVALID = "schedule_invalid"
SCHEDULER_MISSING = "scheduler_missing"
SCHEDULER_NOT_RUNNING = "scheduler_not_running"
SUPERSEDED_STILL_RUNNING = "superseded_still_running"
TEMPORAL_UNAVAILABLE = "temporal_unavailable"
INVOCATION_STALE = "invocation_stale"
INVOCATION_ORPHANED = "invocation_orphaned"
SCHEMA_BEHIND = "schema_behind"
SCHEDULE_BEHIND = "schedule_behind"
SCHEDULE_MISSING = "schedule_missing"
SCHEDULE_STALE = "schedule_stale"
SCHEDULE_ORPHANED = "schedule_orphaned"
INSTANTS_UNACCOUNTED = "instants_unaccounted"

# Report order: the order checks run in, and the order findings are listed in.
CHECKS: tuple[str, ...] = (
    SCHEDULE_BEHIND,
    SCHEDULE_MISSING,
    SCHEDULE_STALE,
    SCHEDULE_ORPHANED,
    NEXT_RUN_MISSING,
    TRIGGER_OVERDUE,
    INSTANTS_UNACCOUNTED,
    SCHEDULE_INVALID,
    SCHEDULER_MISSING,
    SCHEDULER_NOT_RUNNING,
    SUPERSEDED_STILL_RUNNING,
    TEMPORAL_UNAVAILABLE,
    INVOCATION_STALE,
    INVOCATION_ORPHANED,
    SCHEMA_BEHIND,
)

AUDIT_AUTHOR = "audit"


@dataclass
class Finding:
    """Something wrong; `fixed` turns true only when a repair of it actually took effect."""

    check: str
    subject: dict[str, Any]
    message: str
    fixable: bool
    fixed: bool = False


@dataclass(frozen=True)
class Repair:
    """One change the audit made, in words an operator can act on or undo."""

    check: str
    subject: dict[str, Any] = field(hash=False)
    action: str


def sort_key(item: Finding | Repair) -> tuple[int, tuple[tuple[int, int, str], ...]]:
    """Check order first, then the subject's values in order (numbers as numbers), so two runs
    over the same state list the same way."""
    order = CHECKS.index(item.check) if item.check in CHECKS else len(CHECKS)
    values = tuple(
        (0, value, "") if isinstance(value, int) else (1, 0, str(value))
        for value in item.subject.values()
    )
    return order, values
