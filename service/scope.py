"""Who asks, and about what: the caller and the ids an operation addresses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """The caller (`principal`, the author of every commit it makes) and validated ids.

    Ids an operation does not address stay empty.
    """

    principal: str
    tenant_id: str
    project_id: str = ""
    agent_id: str = ""
    trigger_id: str = ""
    alert_id: str = ""
