"""The audit's result: the stable JSON document and the table an operator reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audit.findings import CHECKS, Finding, Repair, sort_key
from manage_db.timestamps import to_db


@dataclass
class AuditReport:
    checked_at: datetime
    findings: list[Finding] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Nothing is wrong after the run: no findings, or every one of them was fixed."""
        return all(finding.fixed for finding in self.findings)

    @property
    def counts(self) -> dict[str, int]:
        """Findings per check (fixed ones included), every check id present."""
        counts = dict.fromkeys(CHECKS, 0)
        for finding in self.findings:
            counts[finding.check] = counts.get(finding.check, 0) + 1
        return counts

    def sorted(self) -> AuditReport:
        return AuditReport(
            checked_at=self.checked_at,
            findings=sorted(self.findings, key=sort_key),
            repairs=sorted(self.repairs, key=sort_key),
        )

    def to_document(self) -> dict[str, Any]:
        """The `--json` / `GET /v1/audit` document, as documented in docs/audit.md."""
        ordered = self.sorted()
        return {
            "healthy": self.healthy,
            "checked_at": to_db(self.checked_at),
            "findings": [
                {
                    "check": f.check,
                    "subject": f.subject,
                    "message": f.message,
                    "fixable": f.fixable,
                    "fixed": f.fixed,
                }
                for f in ordered.findings
            ],
            "repairs": [
                {"check": r.check, "subject": r.subject, "action": r.action}
                for r in ordered.repairs
            ],
            "counts": self.counts,
        }


def _subject_text(subject: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in subject.items()) or "-"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def render_table(report: AuditReport) -> str:
    """Findings, then repairs, as aligned columns, then a one-line verdict."""
    ordered = report.sorted()
    lines: list[str] = []
    if ordered.findings:
        lines += _table(
            ("CHECK", "SUBJECT", "FIXED", "MESSAGE"),
            [
                (
                    f.check,
                    _subject_text(f.subject),
                    "yes" if f.fixed else ("no" if f.fixable else "-"),
                    f.message,
                )
                for f in ordered.findings
            ],
        )
    if ordered.repairs:
        if lines:
            lines.append("")
        lines += _table(
            ("REPAIRED", "SUBJECT", "ACTION"),
            [(r.check, _subject_text(r.subject), r.action) for r in ordered.repairs],
        )
    if lines:
        lines.append("")
    fixed = sum(1 for f in ordered.findings if f.fixed)
    checked = to_db(report.checked_at)
    if not ordered.findings:
        lines.append(f"healthy: nothing found (checked {checked})")
    elif report.healthy:
        lines.append(f"healthy: {len(ordered.findings)} found, all fixed (checked {checked})")
    else:
        lines.append(
            f"unhealthy: {len(ordered.findings)} found, {fixed} fixed,"
            f" {len(ordered.findings) - fixed} remaining (checked {checked})"
        )
    return "\n".join(lines) + "\n"
