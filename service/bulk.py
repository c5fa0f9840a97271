"""A bulk upsert of a project's triggers: every item validated before any is written, one commit.

Each item goes through the same rules as a single call: a new trigger gets `next_run_at` exactly
as a create computes it, an existing one changes as a PUT of all its fields would (version +1,
`next_run_at` recomputed only when its schedule or enablement changes), an identical one is
left alone. Triggers not in the list are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from manage_db.agents import list_agents
from manage_db.triggers import TriggerRow, get_trigger, insert_trigger, replace_trigger
from service.context import ServiceContext
from service.errors import Conflict, FieldError, InvalidFields, invalid
from service.inputs import BulkTrigger, BulkTriggers
from service.project_access import project_write
from service.scope import Scope
from service.trigger_rules import (
    Pausing,
    cancels_pending,
    changed_row,
    create_values,
    new_row,
)
from service.triggers import effective


@dataclass(frozen=True)
class _Plan:
    """What one item will do: `old` is None for a new trigger; `new` is None when unchanged."""

    old: TriggerRow | None
    new: TriggerRow | None

    @property
    def row(self) -> TriggerRow:
        row = self.new or self.old
        assert row is not None
        return row


@dataclass(frozen=True)
class BulkOutcome:
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    items: list[TriggerRow]  # every trigger of the request, in request order


def repeated_ids(body: BulkTriggers) -> list[FieldError]:
    first: dict[str, int] = {}
    errors = []
    for index, item in enumerate(body.triggers):
        if item.id in first:
            errors.append(
                FieldError(f"triggers.{index}.id", f"repeats triggers.{first[item.id]}.id")
            )
        first.setdefault(item.id, index)
    return errors


def _plan(
    item: BulkTrigger,
    existing: TriggerRow | None,
    agents: set[str],
    now: datetime,
    prefix: str,
    cap: int,
    by: Pausing,
) -> _Plan:
    if item.agent_id not in agents:
        raise invalid(prefix + "agent_id", f"agent {item.agent_id} not found")
    values = create_values(item)
    if existing is None:
        row = new_row(
            values, trigger_id=item.id, agent_id=item.agent_id, request_key=None, now=now,
            prefix=prefix, cap=cap, by=by,
        )  # fmt: skip
        return _Plan(None, row)
    if existing.agent_id != item.agent_id:
        raise invalid(
            prefix + "agent_id",
            f"trigger {item.id} belongs to agent {existing.agent_id}; delete it to move it",
        )
    run_at_is_new = values["run_at"] is not None and values["run_at"] != existing.run_at
    new = changed_row(
        existing, values, now=now, require_future_run_at=run_at_is_new, prefix=prefix, cap=cap,
        by=by,
    )  # fmt: skip
    return _Plan(existing, new)


def upsert_triggers(ctx: ServiceContext, scope: Scope, body: BulkTriggers) -> BulkOutcome:
    errors = repeated_ids(body)
    if errors:
        raise InvalidFields(errors)
    now = ctx.now()
    message = f"bulk upsert {len(body.triggers)} triggers"
    with project_write(ctx, scope, message) as write:
        agents = {agent.id for agent in list_agents(write.conn)}
        plans: list[_Plan] = []
        for index, item in enumerate(body.triggers):
            try:
                existing = get_trigger(write.conn, item.id)
                prefix = f"triggers.{index}."
                cap = ctx.max_message_bytes
                plans.append(
                    _plan(item, existing, agents, now, prefix, cap, Pausing(scope.principal))
                )
            except InvalidFields as exc:
                errors.extend(exc.errors)
        if errors:
            raise InvalidFields(errors)
        for plan in plans:
            if plan.old is None:
                insert_trigger(write.conn, plan.row)
            elif plan.new is not None and not replace_trigger(
                write.conn, plan.new, plan.old.version
            ):
                raise Conflict(f"Trigger {plan.row.id} changed meanwhile; nothing was written.")
        write.cancel_pending(
            message,
            trigger_ids=[
                plan.row.id
                for plan in plans
                if plan.old is not None
                and plan.new is not None
                and cancels_pending(plan.old, plan.new)
            ],
        )
    return BulkOutcome(
        created=[plan.row.id for plan in plans if plan.old is None],
        updated=[plan.row.id for plan in plans if plan.old is not None and plan.new],
        unchanged=[plan.row.id for plan in plans if plan.new is None],
        items=effective(ctx, scope, [plan.row for plan in plans]),
    )
