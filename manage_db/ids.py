"""Identifier rules shared by the API edge and every place a branch name is built."""

import re

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_ID_RE = re.compile(ID_PATTERN)


class InvalidIdentifier(ValueError):
    """An id that does not match `ID_PATTERN`; never let one reach SQL as text."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(f"{field} must match {ID_PATTERN}")
        self.field = field
        self.value = value


def check_id(field: str, value: str) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidIdentifier(field, value)
    return value
