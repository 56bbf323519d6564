"""The body of each section of report.html: one renderer per section id
(`RENDERERS`), each turning its section's model into headings, facts and tables.

A section added without a renderer still shows its title, status, summary, problems
and notes (`audit.report_html`), with an empty body.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from audit.html_breakglass import render_breakglass
from audit.html_parts import Raw, num, opt, table, time_cell, when
from audit.html_retention import render_retention
from audit.html_roles import render_roles
from audit.lake_models import LeakScanSection, PurposeSection, RowsSection
from audit.ledger_models import IngestSection, LedgerSection, QueriesSection, RefusalsSection


def _ledger(s: LedgerSection) -> str:
    rows = [
        ("Chain and signatures", "intact" if s.ok else "FAILED"),
        ("Entries verified", num(s.entries)),
        ("Latest signed entry", opt(s.head_seq)),
        ("Signing key", f"<code>{escape(s.fingerprint)}</code>" if s.fingerprint else "—"),
    ]
    if not s.ok:
        rows += [("First bad entry", opt(s.first_bad)), ("Reason", escape(s.reason))]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    reports = table(
        ["Entry", "Time (UTC)", "Actor", "Outcome", "Report status"],
        [
            [r.seq, Raw(time_cell(r.time)), r.actor, r.outcome,
             {True: "ok", False: "failed", None: None}[r.report_ok]]
            for r in s.audit_reports
        ],
        numeric={0},
        empty="",
    )  # fmt: skip
    return f"<dl>{body}</dl>" + (
        f"<h3>Audit reports recorded ({len(s.audit_reports)})</h3>" + reports
        if s.audit_reports
        else ""
    )


def _queries(s: QueriesSection) -> str:
    groups = table(
        ["Purpose", "Actor", "Case", "Queries", "OK", "Failed", "Unanswered", "Rows returned"],
        [
            [g.purpose, g.actor, g.case, g.queries, g.ok, g.failed, g.unanswered, g.rows]
            for g in s.groups
        ],
        numeric={3, 4, 5, 6, 7},
        empty="No queries under a purpose are recorded.",
    )
    stats = table(
        ["Actor", "Statistic", "Dataset", "k", "Runs", "OK", "Failed", "Rows",
         "Suppressed groups"],
        [
            [g.actor, g.named, g.dataset, g.k, g.runs, g.ok, g.failed, g.rows,
             g.suppressed_groups]
            for g in s.stats_groups
        ],
        numeric={3, 4, 5, 6, 7, 8},
        empty="No anonymous statistics are recorded.",
    )  # fmt: skip
    latest = table(
        ["Entry", "Time (UTC)", "Kind", "Actor", "Purpose", "Case", "Query", "Outcome", "Rows"],
        [
            [
                i.seq,
                Raw(time_cell(i.time)),
                i.kind,
                f"{i.actor} ({i.mode})",
                i.purpose,
                i.case,
                Raw(
                    f"named <b>{escape(i.named)}</b>"
                    if i.named
                    else f"<code>{escape(i.sql or '')}</code>"
                ),
                i.outcome + (f": {i.error}" if i.error else ""),
                i.rows,
            ]
            for i in s.latest
        ],
        numeric={0, 8},
        bad=lambda r: r[7] != "ok",
        empty="—",
    )
    return (
        "<h3>By purpose, actor and case</h3>"
        + groups
        + "<h3>Anonymous statistics (k-anonymous, without a purpose)</h3>"
        + stats
        + f"<h3>Latest {len(s.latest)} queries</h3>"
        + latest
    )


def _refusals(s: RefusalsSection) -> str:
    routes = table(
        ["Route", "Refusals"], [[r, n] for r, n in s.by_route.items()], numeric={1}, empty=""
    )
    actors = table(
        ["Actor", "Refusals"], [[a, n] for a, n in s.by_actor.items()], numeric={1}, empty=""
    )
    items = table(
        ["Entry", "Time (UTC)", "Actor", "Command", "Route", "Purpose", "Case", "Reason", "SQL"],
        [
            [i.seq, Raw(time_cell(i.time)), i.actor, i.command, i.route, i.purpose, i.case,
             i.reason, Raw(f"<code>{escape(i.sql)}</code>") if i.sql else None]
            for i in s.items
        ],
        numeric={0},
        empty="No refusals are recorded.",
    )  # fmt: skip
    if not s.total:
        return items
    return "<h3>By route</h3>" + routes + "<h3>By actor</h3>" + actors + "<h3>Refusals</h3>" + items


def _ingest(s: IngestSection) -> str:
    runs = table(
        ["Time (UTC)", "Run", "Source", "Input", "Policy", "Alias directory", "Outcome", "Read",
         "Written", "Rejected"],
        [
            [Raw(time_cell(r.time)),
             Raw(f"<code>{escape(r.run_id or '—')}</code><br>by {escape(r.actor)}"),
             r.source, f"{r.files} file(s), {num(r.bytes)} bytes",
             Raw(f"{escape(r.policy or '—')}<br><span class='mono muted'>"
                  f"{escape((r.policy_sha256 or '')[:16])}</span>"),
             Raw(f"<code>{escape(r.aliases)}</code>") if r.aliases else None,
             r.outcome + (f": {r.error}" if r.error else ""), r.read, r.written, r.rejected]
            for r in s.runs
        ],
        numeric={7, 8, 9},
        bad=lambda r: r[6] != "ok",
        empty="No ingest runs are recorded.",
    )  # fmt: skip
    cases = table(
        ["Case", "Title", "Justification", "Window", "Opened", "Closed", "Queries"],
        [
            [c.id, c.title, c.justification,
             f"{when(c.window_from)} – {when(c.window_to)}" if c.window_from else None,
             f"{when(c.opened_at)} by {c.opened_by or '?'}" if c.opened_at else None,
             f"{when(c.closed_at)} by {c.closed_by or '?'}" if c.closed_at else "open",
             c.queries]
            for c in s.cases
        ],
        numeric={6},
        empty="No cases are recorded.",
    )  # fmt: skip
    policies = table(
        ["Entry", "Time (UTC)", "Actor", "Policy", "Dataset", "SHA-256", "Replaces"],
        [
            [p.seq, Raw(time_cell(p.time)), p.actor, f"{p.id} v{p.version}", p.dataset,
             Raw(f"<code>{escape((p.sha256 or '')[:16])}</code>"),
             Raw(f"<code>{escape(p.previous)}</code>") if p.previous else "— (first)"]
            for p in s.policies
        ],
        numeric={0},
        empty="No policy registrations are recorded.",
    )  # fmt: skip
    views = table(
        ["Entry", "Time (UTC)", "Actor", "Run", "Limit", "Outcome", "Lines shown"],
        [
            [v.seq, Raw(time_cell(v.time)), v.actor, v.run or "(all runs)", v.limit, v.outcome,
             v.lines_shown]
            for v in s.deadletter_views
        ],
        numeric={0, 4, 6},
        empty="Nobody has viewed dead letters.",
    )  # fmt: skip
    return (
        f"<h3>Ingest runs ({s.total_runs})</h3>"
        + runs
        + f"<h3>Cases ({len(s.cases)})</h3>"
        + cases
        + f"<h3>Policies ({len(s.policies)})</h3>"
        + policies
        + f"<h3>Dead-letter views: decrypted raw lines ({len(s.deadletter_views)})</h3>"
        + views
    )


def _rows(s: RowsSection) -> str:
    rows = []
    for dataset in s.datasets:
        counts = {c.purpose: c for c in s.counts if c.dataset == dataset}
        rows.append(
            [dataset]
            + [counts[p].rows if p in counts else 0 for p in s.purposes]
            + [sum(c.files for c in counts.values())]
        )
    rows.append(
        ["total"]
        + [sum(c.rows for c in s.counts if c.purpose == p) for p in s.purposes]
        + [sum(c.files for c in s.counts)]
    )
    numeric = set(range(1, len(s.purposes) + 2))
    grid = table(["Dataset", *s.purposes, "Files"], rows, numeric=numeric, empty="")
    stray = table(
        ["Location", "Files", "Rows"],
        [[x.path, x.files, x.rows] for x in s.stray],
        numeric={1, 2},
        bad=lambda r: True,
        empty="",
    )
    return grid + (
        "<h3>Parquet outside every lawful dataset × purpose</h3>" + stray if s.stray else ""
    )


def _purpose(s: PurposeSection) -> str:
    big = f'<p class="big-number">{num(s.rows_without_lawful_purpose)}</p>'
    grid = table(
        ["Dataset", "Partition purpose", "Rows", "Purposes null or empty",
         "Partition's purpose missing", "Unlawful purpose values"],
        [
            [v.dataset, v.purpose, v.rows, v.null_or_empty, v.missing_partition_purpose,
             v.unlawful_values]
            for v in s.violations
        ],
        numeric={2, 3, 4, 5},
        bad=lambda r: True,
        empty=f"All {num(s.rows_checked)} rows name the purpose of their partition, and "
        "only lawful purposes.",
    )  # fmt: skip
    stray = (
        f"<p>{num(s.stray_rows)} rows lie outside every lawful dataset × purpose directory.</p>"
        if s.stray_rows
        else ""
    )
    return big + grid + stray


def _leaks(s: LeakScanSection) -> str:
    facts = [
        ("Files scanned", num(s.files_scanned)),
        ("Rows scanned", num(s.rows_scanned)),
        ("String values checked", num(s.values_scanned)),
        ("String columns checked", num(s.columns_scanned)),
        ("Alias identifiers checked", num(s.alias_identifiers)),
        ("Shortest alias identifier checked", f"{s.min_identifier_length} characters"),
    ]
    dl = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    sources = table(
        ["Alias directory", "From", "Status", "Identifiers checked", "Too short, skipped"],
        [[a.path, a.origin, a.status, a.identifiers, a.skipped_short] for a in s.alias_sources],
        numeric={3, 4},
        bad=lambda r: r[2] != "loaded",
        empty="No alias directory was given or recorded in the ledger.",
    )
    patterns = table(
        ["Pattern", "Finds", "Values found"],
        [[name, what, s.by_pattern.get(name, 0)] for name, what in s.patterns.items()],
        numeric={2},
        bad=lambda r: bool(r[2]),
        empty="",
    )
    findings = table(
        ["File", "Column", "Pattern", "Values", "Examples (row: digest)"],
        [
            [f.file, f.column, f.pattern, f.count,
             Raw("<br>".join(
                 f"row {e.row}: <code>{escape(e.digest)}</code>" for e in f.examples
             ))]
            for f in s.findings
        ],
        numeric={3},
        bad=lambda r: True,
        empty="No plain identity was found.",
    )  # fmt: skip
    exempt = table(
        ["Not counted", "Values"], [[k, v] for k, v in s.exempt.items()], numeric={1}, empty=""
    )
    return (
        dl
        + "<h3>Alias directories</h3>"
        + sources
        + "<h3>Patterns</h3>"
        + patterns
        + f"<h3>Findings ({len(s.findings)})</h3>"
        + findings
        + f'<p class="muted">{escape(s.digests)}</p>'
        + ("<h3>Matches that are not leaks</h3>" + exempt if s.exempt else "")
    )


RENDERERS: dict[str, Callable[[Any], str]] = {
    "ledger": _ledger,
    "queries": _queries,
    "refusals": _refusals,
    "ingest": _ingest,
    "rows": _rows,
    "purpose": _purpose,
    "leaks": _leaks,
    "retention": render_retention,
    "breakglass": render_breakglass,
    "roles": render_roles,
}
