"""report.html: one self-contained page (inline CSS; no scripts, fonts, images or other
external resources, and a Content-Security-Policy that forbids them), readable on
screen and on paper.

Every section is a `<section id="<section id>">` whose `<h2>` has its own solid
background colour (`SECTION_COLOURS`), so a reader — or a screenshot test — can find
each section at a glance. The overall status badge sits at the top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any

from audit.leak_scan import DIGEST_HEX
from audit.report_data import (
    AuditReport,
    IngestSection,
    LeakScanSection,
    LedgerSection,
    PurposeSection,
    QueriesSection,
    RefusalsSection,
    RetentionSection,
    RowsSection,
    SectionBase,
    Status,
)

# Heading background of each section: solid, distinct from each other and from the
# status colours (white text on all of them has a contrast ratio above 7:1).
SECTION_COLOURS: dict[str, str] = {
    "ledger": "#1f4e79",  # dark blue
    "queries": "#5b2c83",  # purple
    "refusals": "#8a3b00",  # burnt orange
    "ingest": "#00574b",  # teal
    "rows": "#37474f",  # slate
    "purpose": "#880e4f",  # magenta
    "leaks": "#6d0f12",  # maroon
    "retention": "#4a5211",  # olive
}
OTHER_SECTION_COLOUR = "#333333"  # a section added without a colour of its own
STATUS_COLOURS: dict[str, str] = {
    Status.ok: "#1a7f37",  # green
    Status.warning: "#9a6700",  # amber
    Status.failed: "#cf222e",  # red
}
LIST_SHOWN = 200  # rows of a long list shown in the page (report.json has them all)

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#fff;color:#1b1f24;font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif}
.page{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:1.6rem;margin:0 0 4px}
h3{font-size:1.02rem;margin:18px 0 6px}
.meta{color:#57606a;margin:0 0 14px}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.86em}
code{background:#f3f4f6;padding:0 3px;border-radius:3px;word-break:break-all}
.badge{display:inline-block;padding:3px 12px;border-radius:4px;color:#fff;font-weight:700;
letter-spacing:.04em;text-transform:uppercase;font-size:.8rem;vertical-align:middle}
.badge.big{font-size:1.25rem;padding:8px 22px;border-radius:6px}
.problems{border-left:5px solid #cf222e;background:#fff5f5;padding:8px 14px 8px 30px;margin:12px 0}
.notes{border-left:5px solid #9a6700;background:#fffbea;padding:8px 14px 8px 30px;margin:12px 0}
.problems li,.notes li{margin:2px 0}
nav ol{columns:2;margin:8px 0 0;padding-left:22px}
nav a{color:#0b4f9c;text-decoration:none}
.figures{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.figure{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;min-width:150px}
.figure b{display:block;font-size:1.35rem}
.figure span{color:#57606a;font-size:.85rem}
section{border:1px solid #d0d7de;border-radius:6px;margin:26px 0;overflow:hidden}
section>h2{margin:0;padding:14px 18px;color:#fff;font-size:1.25rem;display:flex;
justify-content:space-between;align-items:center;gap:12px}
section>h2 .badge{border:1px solid #fff}
.body{padding:10px 18px 16px}
.summary{font-weight:600;margin:6px 0 10px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:.88rem}
th,td{border-bottom:1px solid #e1e4e8;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
.t{white-space:nowrap;font-variant-numeric:tabular-nums}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.bad td{background:#fff0f0}
.muted{color:#57606a}
.big-number{font-size:2rem;font-weight:700}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:6px 0 12px}
dt{color:#57606a}dd{margin:0}
footer{color:#57606a;font-size:.85rem;margin-top:30px}
@media print{
 body{font-size:11px}.page{max-width:none;padding:0}
 section{break-inside:auto;border-color:#999}section>h2{break-after:avoid}
 tr{break-inside:avoid}nav{display:none}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""


def section_colour(section_id: str) -> str:
    return SECTION_COLOURS.get(section_id, OTHER_SECTION_COLOUR)


def render_html(report: AuditReport) -> str:
    sections = "\n".join(_section(s) for s in report.sections)
    heading_css = "".join(
        f"#{sid}>h2{{background:{colour}}}" for sid, colour in SECTION_COLOURS.items()
    )
    status = Status(report.status)
    problems = _list(report.problems, "problems")
    warnings = _list(report.warnings, "notes")
    toc = "".join(
        f'<li><a href="#{escape(s.id)}">{escape(s.title)}</a> {_badge(s.status)}</li>'
        for s in report.sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loggvern audit report — {escape(report.store)}</title>
<style>{_CSS}{heading_css}</style>
</head>
<body>
<div class="page">
<header>
<h1>loggvern audit report</h1>
<p class="meta">Store <code>{escape(report.store)}</code>
 · generated {escape(_when(report.generated_at))}
 · built in {report.seconds:.2f} s · report format {report.format}</p>
<p id="status">{_badge(status, big=True)}
 <span class="muted">{_status_text(report)}</span></p>
{problems}{warnings}
{_figures(report)}
<nav><b>Sections</b><ol>{toc}</ol></nav>
</header>
<main>
{sections}
</main>
<footer>No value read from the lake appears in this report: a finding names the file, column,
row and pattern, and shows a SHA-256 prefix ({DIGEST_HEX} hex digits) of the value so that
someone with access to the store can confirm it. report.json holds the complete data.</footer>
</div>
</body>
</html>
"""


def _status_text(report: AuditReport) -> str:
    if report.status == "ok":
        return "every check passed" + (
            f" ({len(report.warnings)} note(s) worth a look)" if report.warnings else ""
        )
    return f"{len(report.problems)} problem(s) found"


def _figures(report: AuditReport) -> str:
    figures: list[tuple[str, Any]] = []
    for s in report.sections:
        if isinstance(s, LedgerSection):
            figures.append(("ledger entries verified", s.entries))
        elif isinstance(s, QueriesSection):
            figures.append(("queries under a purpose", s.total_queries))
        elif isinstance(s, RefusalsSection):
            figures.append(("refusals", s.total))
        elif isinstance(s, RowsSection):
            figures.append(("rows in the lake", s.total_rows))
        elif isinstance(s, PurposeSection):
            figures.append(("rows without a lawful purpose", s.rows_without_lawful_purpose))
        elif isinstance(s, LeakScanSection):
            figures.append(("plain identities found", s.total_findings))
        elif isinstance(s, RetentionSection):
            figures.append(("partitions past retention", s.overdue_partitions))
    return (
        '<div class="figures">'
        + "".join(
            f'<div class="figure"><b>{_num(v)}</b><span>{escape(k)}</span></div>'
            for k, v in figures
        )
        + "</div>"
    )


def _section(section: SectionBase) -> str:
    render = _RENDERERS.get(section.id, lambda s: "")
    sid = escape(section.id)
    return f"""<section id="{sid}">
<h2><span>{escape(section.title)}</span>{_badge(section.status)}</h2>
<div class="body">
<p class="summary">{escape(section.summary)}</p>
{_list(section.problems, "problems")}{_list(section.notes, "notes")}
{render(section)}
<p class="muted">Built in {section.seconds:.3f} s.</p>
</div>
</section>"""


# -- per-section bodies ----------------------------------------------------------------


def _ledger(s: LedgerSection) -> str:
    rows = [
        ("Chain and signatures", "intact" if s.ok else "FAILED"),
        ("Entries verified", _num(s.entries)),
        ("Latest signed entry", _opt(s.head_seq)),
        ("Signing key", f"<code>{escape(s.fingerprint)}</code>" if s.fingerprint else "—"),
    ]
    if not s.ok:
        rows += [("First bad entry", _opt(s.first_bad)), ("Reason", escape(s.reason))]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    reports = _table(
        ["Entry", "Time (UTC)", "Actor", "Outcome", "Report status"],
        [
            [r.seq, _Raw(_time_cell(r.time)), r.actor, r.outcome,
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
    groups = _table(
        ["Purpose", "Actor", "Case", "Queries", "OK", "Failed", "Unanswered", "Rows returned"],
        [
            [g.purpose, g.actor, g.case, g.queries, g.ok, g.failed, g.unanswered, g.rows]
            for g in s.groups
        ],
        numeric={3, 4, 5, 6, 7},
        empty="No queries under a purpose are recorded.",
    )
    stats = _table(
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
    latest = _table(
        ["Entry", "Time (UTC)", "Kind", "Actor", "Purpose", "Case", "Query", "Outcome", "Rows"],
        [
            [
                i.seq,
                _Raw(_time_cell(i.time)),
                i.kind,
                f"{i.actor} ({i.mode})",
                i.purpose,
                i.case,
                _Raw(
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
    routes = _table(
        ["Route", "Refusals"], [[r, n] for r, n in s.by_route.items()], numeric={1}, empty=""
    )
    actors = _table(
        ["Actor", "Refusals"], [[a, n] for a, n in s.by_actor.items()], numeric={1}, empty=""
    )
    items = _table(
        ["Entry", "Time (UTC)", "Actor", "Command", "Route", "Purpose", "Case", "Reason", "SQL"],
        [
            [i.seq, _Raw(_time_cell(i.time)), i.actor, i.command, i.route, i.purpose, i.case,
             i.reason, _Raw(f"<code>{escape(i.sql)}</code>") if i.sql else None]
            for i in s.items
        ],
        numeric={0},
        empty="No refusals are recorded.",
    )  # fmt: skip
    if not s.total:
        return items
    return "<h3>By route</h3>" + routes + "<h3>By actor</h3>" + actors + "<h3>Refusals</h3>" + items


def _ingest(s: IngestSection) -> str:
    runs = _table(
        ["Time (UTC)", "Run", "Source", "Input", "Policy", "Alias directory", "Outcome", "Read",
         "Written", "Rejected"],
        [
            [_Raw(_time_cell(r.time)),
             _Raw(f"<code>{escape(r.run_id or '—')}</code><br>by {escape(r.actor)}"),
             r.source, f"{r.files} file(s), {_num(r.bytes)} bytes",
             _Raw(f"{escape(r.policy or '—')}<br><span class='mono muted'>"
                  f"{escape((r.policy_sha256 or '')[:16])}</span>"),
             _Raw(f"<code>{escape(r.aliases)}</code>") if r.aliases else None,
             r.outcome + (f": {r.error}" if r.error else ""), r.read, r.written, r.rejected]
            for r in s.runs
        ],
        numeric={7, 8, 9},
        bad=lambda r: r[6] != "ok",
        empty="No ingest runs are recorded.",
    )  # fmt: skip
    cases = _table(
        ["Case", "Title", "Justification", "Window", "Opened", "Closed", "Queries"],
        [
            [c.id, c.title, c.justification,
             f"{_when(c.window_from)} – {_when(c.window_to)}" if c.window_from else None,
             f"{_when(c.opened_at)} by {c.opened_by or '?'}" if c.opened_at else None,
             f"{_when(c.closed_at)} by {c.closed_by or '?'}" if c.closed_at else "open",
             c.queries]
            for c in s.cases
        ],
        numeric={6},
        empty="No cases are recorded.",
    )  # fmt: skip
    policies = _table(
        ["Entry", "Time (UTC)", "Actor", "Policy", "Dataset", "SHA-256", "Replaces"],
        [
            [p.seq, _Raw(_time_cell(p.time)), p.actor, f"{p.id} v{p.version}", p.dataset,
             _Raw(f"<code>{escape((p.sha256 or '')[:16])}</code>"),
             _Raw(f"<code>{escape(p.previous)}</code>") if p.previous else "— (first)"]
            for p in s.policies
        ],
        numeric={0},
        empty="No policy registrations are recorded.",
    )  # fmt: skip
    views = _table(
        ["Entry", "Time (UTC)", "Actor", "Run", "Limit", "Outcome", "Lines shown"],
        [
            [v.seq, _Raw(_time_cell(v.time)), v.actor, v.run or "(all runs)", v.limit, v.outcome,
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
    table = _table(["Dataset", *s.purposes, "Files"], rows, numeric=numeric, empty="")
    stray = _table(
        ["Location", "Files", "Rows"],
        [[x.path, x.files, x.rows] for x in s.stray],
        numeric={1, 2},
        bad=lambda r: True,
        empty="",
    )
    return table + (
        "<h3>Parquet outside every lawful dataset × purpose</h3>" + stray if s.stray else ""
    )


def _purpose(s: PurposeSection) -> str:
    big = f'<p class="big-number">{_num(s.rows_without_lawful_purpose)}</p>'
    table = _table(
        ["Dataset", "Partition purpose", "Rows", "Purposes null or empty",
         "Partition's purpose missing", "Unlawful purpose values"],
        [
            [v.dataset, v.purpose, v.rows, v.null_or_empty, v.missing_partition_purpose,
             v.unlawful_values]
            for v in s.violations
        ],
        numeric={2, 3, 4, 5},
        bad=lambda r: True,
        empty=f"All {_num(s.rows_checked)} rows name the purpose of their partition, and "
        "only lawful purposes.",
    )  # fmt: skip
    stray = (
        f"<p>{_num(s.stray_rows)} rows lie outside every lawful dataset × purpose directory.</p>"
        if s.stray_rows
        else ""
    )
    return big + table + stray


def _leaks(s: LeakScanSection) -> str:
    facts = [
        ("Files scanned", _num(s.files_scanned)),
        ("Rows scanned", _num(s.rows_scanned)),
        ("String values checked", _num(s.values_scanned)),
        ("String columns checked", _num(s.columns_scanned)),
        ("Alias identifiers checked", _num(s.alias_identifiers)),
        ("Shortest alias identifier checked", f"{s.min_identifier_length} characters"),
    ]
    dl = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    sources = _table(
        ["Alias directory", "From", "Status", "Identifiers checked", "Too short, skipped"],
        [[a.path, a.origin, a.status, a.identifiers, a.skipped_short] for a in s.alias_sources],
        numeric={3, 4},
        bad=lambda r: r[2] != "loaded",
        empty="No alias directory was given or recorded in the ledger.",
    )
    patterns = _table(
        ["Pattern", "Finds", "Values found"],
        [[name, what, s.by_pattern.get(name, 0)] for name, what in s.patterns.items()],
        numeric={2},
        bad=lambda r: bool(r[2]),
        empty="",
    )
    findings = _table(
        ["File", "Column", "Pattern", "Values", "Examples (row: SHA-256 prefix)"],
        [
            [f.file, f.column, f.pattern, f.count,
             _Raw("<br>".join(
                 f"row {e.row}: <code>{escape(e.sha256_prefix)}</code>" for e in f.examples
             ))]
            for f in s.findings
        ],
        numeric={3},
        bad=lambda r: True,
        empty="No plain identity was found.",
    )  # fmt: skip
    exempt = _table(
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
        + ("<h3>Matches that are not leaks</h3>" + exempt if s.exempt else "")
    )


def _retention(s: RetentionSection) -> str:
    table = _table(
        ["Dataset", "Purpose", "Policy", "Retention (days)", "Rows", "Oldest partition",
         "Age (days)", "Overdue before", "Overdue partitions"],
        [
            [i.dataset, i.purpose, i.policy or "(no known policy)", i.retention_days, i.rows,
             i.oldest, i.age_days, i.cutoff,
             (", ".join(i.overdue_partitions[:10])
              + (f" … ({len(i.overdue_partitions)})" if len(i.overdue_partitions) > 10 else ""))
             or "none"]
            for i in s.items
        ],
        numeric={3, 4, 6},
        bad=lambda r: r[8] != "none",
        empty="No policy grants a purpose and the lake is empty.",
    )  # fmt: skip
    return f"<p>Today (UTC): {escape(s.today)}. Policies: {escape(s.policy_source)}.</p>" + table


_RENDERERS: dict[str, Callable[[Any], str]] = {
    "ledger": _ledger,
    "queries": _queries,
    "refusals": _refusals,
    "ingest": _ingest,
    "rows": _rows,
    "purpose": _purpose,
    "leaks": _leaks,
    "retention": _retention,
}


# -- helpers ---------------------------------------------------------------------------


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _cell(value: Any) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if value is None or value == "":
        return '<span class="muted">—</span>'
    if isinstance(value, int) and not isinstance(value, bool):
        return _num(value)
    return escape(str(value))


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: set[int],
    empty: str,
    bad: Callable[[Sequence[Any]], bool] | None = None,
) -> str:
    rows = list(rows)
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>' if empty else ""
    shown = rows[:LIST_SHOWN]
    head = "".join(
        f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in shown:
        cls = ' class="bad"' if bad is not None and bad(row) else ""
        cells = "".join(
            f'<td class="n">{_cell(v)}</td>' if i in numeric else f"<td>{_cell(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    more = (
        f'<p class="muted">{len(rows) - LIST_SHOWN} more in report.json.</p>'
        if len(rows) > LIST_SHOWN
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _list(items: Sequence[str], cls: str) -> str:
    if not items:
        return ""
    return f'<ul class="{cls}">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def _badge(status: Status | str, big: bool = False) -> str:
    status = Status(status)
    label = {"ok": "OK", "warning": "NOTE", "failed": "FAILED"}[status.value]
    size = " big" if big else ""
    return (
        f'<span class="badge{size} status-{status.value}" '
        f'style="background:{STATUS_COLOURS[status]}">{label}</span>'
    )


def _num(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}".replace(",", "\u202f")
    return escape(str(value))


def _opt(value: Any) -> str:
    return "—" if value is None else _num(value)


def _time_cell(iso: str | None) -> str:
    """A table cell's time: date and time to the second on one line each, UTC."""
    text = _when(iso).removesuffix(" UTC")
    day, _, clock = text.partition(" ")
    return f'<span class="t">{escape(day)}<br>{escape(clock)}</span>' if clock else escape(text)


def _when(iso: str | None) -> str:
    """ISO time as `YYYY-MM-DD HH:MM:SS UTC` (dates stay dates)."""
    if not iso:
        return "—"
    text = iso.replace("T", " ")
    for suffix in ("+00:00", "Z"):
        if text.endswith(suffix):
            text = text[: -len(suffix)].split(".")[0] + " UTC"
            break
    return text
