"""The process's open-file limit, raised for a worker's connections.

A worker holds a connection to an agent for every run in flight (1,100 by default), besides its
database, Temporal and store handles, and the soft limit many hosts start a process with (1,024)
would fail the last of a minute's deliveries with "Too many open files". As Go's runtime does,
the worker raises its soft limit up to the hard one, which only the host's administrator sets.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

# Handles a worker holds besides its agents' connections: database and Temporal connections,
# the manage store's files, the API's clients, logs.
OTHER_HANDLES = 1024


def raise_open_files_limit(wanted: int) -> int:
    """Raise a soft limit on open files below `wanted` to the hard limit (to `wanted` when
    there is none), and return the soft limit in force; warn when it stays below `wanted`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    raised = wanted if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    if raised < wanted:
        log.warning(
            "open files limited to %d (hard limit), fewer than the %d this worker may hold;"
            " raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower"
            " TIMEKEEPER_DISPATCH_MAX_PER_TICK",
            raised,
            wanted,
        )
    return raised
