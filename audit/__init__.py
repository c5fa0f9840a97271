"""The reconciliation audit: checks across the three stores, and the repairs that are safe."""

import manage_db  # noqa: F401  (doltlite bootstrap before anything imports sqlite3)
