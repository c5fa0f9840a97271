"""How a runner workflow is started: its name, input and id. No I/O, safe for workflow code.

The dispatcher and the API start runs through this contract, so the workflow id scheme (which
makes dispatch idempotent) lives in one place.

Annotations here are real types, not strings (no `from __future__ import annotations`): the
payload converter resolves a dataclass's hints on every decode, and string hints made that
about three times slower (BENCHMARKS.md).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from manage_db.ids import check_id
from manage_db.timestamps import to_slot

RUNNER_WORKFLOW = "RunnerWorkflow"
# The runner's steps a run started now follows (see RunnerInput.steps).
CURRENT_STEPS = 1
# A run started ahead of its instant spends the last of its wait, this long at most, inside its
# begin local activity on the worker's clock: a server timer fires seconds late while the server
# starts a minute's burst, and a start made in time leaves no round trip after the instant. A
# minute's runs are started up to this long ahead (`SchedulerInput.minute_lead_ms`).
WORKER_CLOCK_WAIT = timedelta(seconds=25)
# What a run started ahead's first workflow task is given beyond its wait: its begin, its
# delivery and the task's completion at a server busy with the minute's burst (at 10 s, the
# default task timeout, 40% of a burst's tasks timed out at a server also firing 1,000 Temporal
# Schedules: BENCHMARKS.md). A task lost with a crashed worker is retried this long past the
# instant.
AHEAD_TASK_SLACK = timedelta(seconds=15)
# The longest task timeout a run started ahead is given (`ahead_task_timeout`).
LONGEST_AHEAD_TASK_TIMEOUT = WORKER_CLOCK_WAIT + AHEAD_TASK_SLACK


@dataclass(frozen=True)
class RunnerInput:
    tenant_id: str
    project_id: str
    agent_id: str
    trigger_id: str
    scheduled_for: str  # UTC `YYYY-MM-DDTHH:MM:SSZ`; a manual run's request instant
    kind: str  # scheduled | manual | rerun
    slot: str  # `YYYYMMDDTHHMMSSZ` for scheduled runs, `manual-{uuid}` otherwise
    # The trigger version the dispatcher saw; a run whose trigger a user has since disabled
    # (which bumps the version) is skipped. None for manual runs, which run regardless.
    trigger_version: int | None = None
    # When to begin: the instant plus the trigger's jitter offset (UTC text); None: at once.
    fire_at: str | None = None
    # Which sequence of steps the run follows, fixed at its start so the workflow needs no patch
    # marker to tell: 1 is begin with the first attempt, then local steps. 0, the value of runs
    # started before this field, decides by the runner's patches. Every start sets CURRENT_STEPS.
    steps: int = 0
    # The dispatch started this run before `fire_at` (a one-time instant it was handed ahead):
    # its begin waits for `fire_at` on the worker's clock (`WORKER_CLOCK_WAIT` at most).
    started_ahead: bool = False


def ahead_task_timeout(wait: timedelta) -> timedelta:
    """The task timeout of a run started `wait` before its fire instant. Its first workflow task
    is held open while its begin waits (up to `WORKER_CLOCK_WAIT`): a timeout covering the wait
    spares the worker a heartbeat of that task at the server every 8 s (a round trip for each
    run of a minute started ahead), and a task lost with a crashed worker is still retried
    `AHEAD_TASK_SLACK` past the instant."""
    return min(max(wait, timedelta(0)), WORKER_CLOCK_WAIT) + AHEAD_TASK_SLACK


def runner_workflow_id(
    tenant_id: str, project_id: str, agent_id: str, trigger_id: str, slot: str
) -> str:
    for name, value in (
        ("tenant_id", tenant_id),
        ("project_id", project_id),
        ("agent_id", agent_id),
        ("trigger_id", trigger_id),
    ):
        check_id(name, value)
    return f"trigger-run:{tenant_id}:{project_id}:{agent_id}:{trigger_id}:{slot}"


def scheduled_slot(scheduled_for: datetime) -> str:
    return to_slot(scheduled_for)


def workflow_id_for(run: RunnerInput) -> str:
    return runner_workflow_id(run.tenant_id, run.project_id, run.agent_id, run.trigger_id, run.slot)
