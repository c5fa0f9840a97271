"""Domain errors: what went wrong in user terms, for every surface to map as it sees fit.

Messages are safe to show a user; they never carry internal details.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The thing named does not exist (or the caller may not see it)."""


class Conflict(DomainError):
    """The request contradicts what exists: a repeat with other fields, a finished run."""


class PreconditionFailed(DomainError):
    """The caller's view is stale: `current_version` is what a retry should be based on."""

    def __init__(self, message: str, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class InvalidFields(DomainError):
    """One or more fields are wrong; each is named, so one answer lists them all."""

    def __init__(
        self, errors: list[FieldError], message: str = "The request has invalid fields."
    ) -> None:
        super().__init__(message)
        self.errors = errors


class Unavailable(DomainError):
    """A part the operation needs (Temporal, a store) cannot be reached now; retrying may work."""


def invalid(field: str, message: str) -> InvalidFields:
    return InvalidFields([FieldError(field, message)])
