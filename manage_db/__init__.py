"""The versioned manage store: projects, agents and triggers in doltlite, one branch per project.

`import doltlite` must run before anything imports `sqlite3`, or doltlite re-execs the
interpreter; this package is the one place that does it, so import it first.
"""

import os as _os

# doltlite marks a bootstrapped process in the environment, which child processes inherit;
# unless the library is really preloaded into this process, the mark is a parent's and stale.
if not any(
    "libdoltlite" in _os.environ.get(var, "") for var in ("LD_PRELOAD", "DYLD_INSERT_LIBRARIES")
):
    _os.environ.pop("_DOLTLITE_BOOTSTRAPPED", None)

import doltlite  # noqa: F401  (side effect: makes sqlite3 talk to libdoltlite)
