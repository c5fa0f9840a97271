"""Timekeeper: the process-level package (settings, CLI, wiring, the embedded dev stack)."""

import manage_db  # noqa: F401  (doltlite bootstrap before anything imports sqlite3)

__version__ = "0.1.0"
