"""`loggvern audit report STORE --out DIR`: build the sections, write report.json and
report.html.

Building reads the ledger (parsed once, and verified over its bytes), the lake (DuckDB
counts and a leak scan) and the catalog read-only; it writes nothing into the store.
Both files are written owner-only and atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from audit.breakglass_section import build_breakglass_section
from audit.lake_sections import build_purpose_section, build_rows_section, lake_stats
from audit.leak_scan import scan_store
from audit.ledger_sections import (
    build_ingest_section,
    build_ledger_section,
    build_queries_section,
    build_refusals_section,
)
from audit.ledger_view import LedgerView
from audit.report_html import render_html
from audit.report_models import AuditReport
from audit.retention import build_retention_section, utc_today
from audit.retention_history import read_history
from audit.roles_section import build_roles_section
from audit.section import SectionBase, Status, section_problems, timed
from store.layout import StoreLayout
from store.ledger_entry import EntryKind
from store.policy_registry import policies_in_force

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"


def build_report(
    layout: StoreLayout, aliases: Sequence[Path] = (), now: datetime | None = None
) -> AuditReport:
    """Every section, in the order the report shows them."""
    start = time.perf_counter()
    layout.require()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    view = LedgerView.read(layout)
    sections: list[SectionBase] = [
        timed(lambda: build_ledger_section(layout, view)),
        timed(lambda: build_queries_section(view)),
        timed(lambda: build_refusals_section(view)),
        timed(lambda: build_ingest_section(view)),
    ]
    lake_start = time.perf_counter()
    stats = lake_stats(layout)
    lake_seconds = round(time.perf_counter() - lake_start, 4)
    rows = timed(lambda: build_rows_section(stats))
    rows.seconds = round(rows.seconds + lake_seconds, 4)  # one DuckDB pass serves 3 sections
    policies, policy_source = policies_in_force(layout)
    history = read_history(view, layout)
    recorded = [
        str(e.body["aliases"])
        for e in view.of(EntryKind.INGEST_INTENT)
        if isinstance(e.body.get("aliases"), str) and e.body["aliases"]
    ]
    sections += [
        rows,
        timed(lambda: build_purpose_section(stats)),
        scan_store(layout, aliases, recorded, policies),
        timed(
            lambda: build_retention_section(stats, policies, policy_source, utc_today(now), history)
        ),
        timed(lambda: build_breakglass_section(view, now)),
        timed(lambda: build_roles_section(view)),
    ]
    problems, warnings = section_problems(sections)
    return AuditReport(
        generated_at=now.isoformat(timespec="seconds"),
        store=str(layout.root),
        status="failed" if any(s.status is Status.failed for s in sections) else "ok",
        problems=problems,
        warnings=warnings,
        seconds=round(time.perf_counter() - start, 4),
        sections=sections,  # type: ignore[arg-type]
    )


def write_report(
    layout: StoreLayout,
    out_dir: Path,
    aliases: Sequence[Path] = (),
    *,
    now: datetime | None = None,
) -> AuditReport:
    """Build the report and write `out_dir/report.json` and `out_dir/report.html`."""
    report = build_report(layout, aliases, now)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(out_dir / REPORT_JSON, report.model_dump_json(indent=2) + "\n")
    _write(out_dir / REPORT_HTML, render_html(report))
    return report


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
