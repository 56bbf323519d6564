"""The auditor's report: what the ledger says happened and what the lake holds.

`write_report(layout, out_dir, aliases)` writes `report.json` (the `AuditReport` model)
and a self-contained `report.html` (inline CSS, no scripts, no external resources).
"""

from __future__ import annotations

from audit.report import write_report
from audit.report_models import AuditReport
from audit.section import Status

__all__ = ["AuditReport", "Status", "write_report"]
