"""`timekeeper audit [--fix] [--json]`: run, print, and turn the verdict into an exit status.

Exit 0 when nothing is wrong after the run (nothing found, or all of it fixed), 1 when
something found remains, 2 when the audit could not run (a store did not answer).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from audit.progress import TerminalProgress
from audit.report import render_table
from audit.run import AuditContext, run_audit
from manage_db.store import BranchNotFound

log = logging.getLogger(__name__)

EXIT_HEALTHY = 0
EXIT_FOUND = 1
EXIT_CANNOT_RUN = 2

_STORE_ERRORS = (SQLAlchemyError, sqlite3.Error, BranchNotFound, OSError)


async def audit_command(
    ctx: AuditContext, *, fix: bool, as_json: bool, out: TextIO, err: TextIO
) -> int:
    try:
        report = await run_audit(ctx, fix=fix, progress=TerminalProgress(err))
    except _STORE_ERRORS as exc:
        log.debug("audit could not run", exc_info=True)
        print(f"error: the audit could not run: {type(exc).__name__}: {exc}", file=err)
        return EXIT_CANNOT_RUN
    if as_json:
        out.write(json.dumps(report.to_document(), indent=2) + "\n")
    else:
        out.write(render_table(report))
    out.flush()
    return EXIT_HEALTHY if report.healthy else EXIT_FOUND
