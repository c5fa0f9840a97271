"""The report's two faces (the table and the JSON document) and the terminal progress bar."""

from __future__ import annotations

import io

from audit.findings import Finding, Repair
from audit.progress import TerminalProgress
from audit.report import AuditReport, render_table
from tests.audit.conftest import NOW


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _report() -> AuditReport:
    stale = Finding(
        "invocation_stale",
        {"trigger_id": "daily", "invocation_id": "i-1"},
        "running too long",
        fixable=True,
        fixed=True,
    )
    behind = Finding(
        "schema_behind", {"branch": "a/w/main", "version": 1}, "schema version 1", False
    )
    missing = Finding("scheduler_missing", {}, "none registered", True)
    return AuditReport(
        checked_at=NOW,
        findings=[behind, stale, missing],
        repairs=[Repair("invocation_stale", stale.subject, "failed")],
    )


def test_the_table_lists_findings_in_check_order_then_repairs_then_a_verdict() -> None:
    assert render_table(_report()) == (
        "CHECK              SUBJECT                             FIXED  MESSAGE\n"
        "scheduler_missing  -                                   no     none registered\n"
        "invocation_stale   trigger_id=daily invocation_id=i-1  yes    running too long\n"
        "schema_behind      branch=a/w/main version=1           -      schema version 1\n"
        "\n"
        "REPAIRED          SUBJECT                             ACTION\n"
        "invocation_stale  trigger_id=daily invocation_id=i-1  failed\n"
        "\n"
        "unhealthy: 3 found, 1 fixed, 2 remaining (checked 2030-01-07T10:00:00Z)\n"
    )


def test_healthy_means_nothing_remains_wrong_after_the_run() -> None:
    report = _report()
    assert report.healthy is False
    for finding in report.findings:
        finding.fixed = True
    assert report.healthy is True
    assert render_table(report).endswith(
        "healthy: 3 found, all fixed (checked 2030-01-07T10:00:00Z)\n"
    )
    assert AuditReport(checked_at=NOW).to_document()["healthy"] is True
    assert render_table(AuditReport(checked_at=NOW)) == (
        "healthy: nothing found (checked 2030-01-07T10:00:00Z)\n"
    )


def test_the_progress_bar_draws_only_on_a_terminal_and_only_for_many_branches() -> None:
    terminal, pipe, few = _Terminal(), io.StringIO(), _Terminal()
    on_terminal, on_pipe, on_few = (
        TerminalProgress(terminal, width=10),
        TerminalProgress(pipe),
        TerminalProgress(few),
    )

    on_terminal(30, 60)
    on_terminal(60, 60)
    on_pipe(60, 60)
    on_few(10, 10)

    assert terminal.getvalue() == (
        "\rscanning branches [#####.....] 30/60\rscanning branches [##########] 60/60\n"
    )
    assert (pipe.getvalue(), few.getvalue()) == ("", "")
