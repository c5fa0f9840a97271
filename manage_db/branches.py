"""Project branch naming: `{tenant_id}/{project_id}/main`, validated where it is built."""

from dataclasses import dataclass

from manage_db.ids import check_id

SCHEMA_BRANCH = "main"


@dataclass(frozen=True)
class ProjectRef:
    tenant_id: str
    project_id: str

    def __post_init__(self) -> None:
        check_id("tenant_id", self.tenant_id)
        check_id("project_id", self.project_id)


def project_branch(tenant_id: str, project_id: str) -> str:
    return f"{check_id('tenant_id', tenant_id)}/{check_id('project_id', project_id)}/main"


def parse_branch(name: str) -> ProjectRef | None:
    """The project a branch belongs to, or None for `main` and foreign branches."""
    parts = name.split("/")
    if len(parts) != 3 or parts[2] != "main":
        return None
    try:
        return ProjectRef(parts[0], parts[1])
    except ValueError:
        return None
