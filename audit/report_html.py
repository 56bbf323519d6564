"""report.html: one self-contained page (inline CSS; no scripts, fonts, images or other
external resources, and a Content-Security-Policy that forbids them), readable on
screen and on paper.

This module lays out the page: the overall status badge at the top, the problems and
notes, the key figures, a table of contents, then every section as a
`<section id="<section id>">` whose `<h2>` has its own solid background colour
(`SECTION_COLOURS`, from `audit.html_style`), so a reader — or a screenshot test — can
find each section at a glance. Each section's body comes from `audit.html_sections`.
"""

from __future__ import annotations

from html import escape

from audit.html_parts import badge, bullets, num, when
from audit.html_sections import RENDERERS
from audit.html_style import CSS, SECTION_COLOURS, STATUS_COLOURS
from audit.leak_digest import DIGEST_HEX
from audit.report_models import AuditReport
from audit.section import SectionBase, Status

__all__ = ["SECTION_COLOURS", "STATUS_COLOURS", "render_html"]


def render_html(report: AuditReport) -> str:
    sections = "\n".join(_section(s) for s in report.sections)
    heading_css = "".join(
        f"#{sid}>h2{{background:{colour}}}" for sid, colour in SECTION_COLOURS.items()
    )
    status = Status(report.status)
    problems = bullets(report.problems, "problems")
    warnings = bullets(report.warnings, "notes")
    toc = "".join(
        f'<li><a href="#{escape(s.id)}">{escape(s.title)}</a> {badge(s.status)}</li>'
        for s in report.sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loggvern audit report — {escape(report.store)}</title>
<style>{CSS}{heading_css}</style>
</head>
<body>
<div class="page">
<header>
<h1>loggvern audit report</h1>
<p class="meta">Store <code>{escape(report.store)}</code>
 · generated {escape(when(report.generated_at))}
 · built in {report.seconds:.2f} s · report format {report.format}</p>
<p id="status">{badge(status, big=True)}
 <span class="muted">{_status_text(report)}</span></p>
{problems}{warnings}
{_figures(report)}
<nav><b>Sections</b><ol>{toc}</ol></nav>
</header>
<main>
{sections}
</main>
<footer>No value read from the lake appears in this report: a finding names the file, column,
row and pattern, so that someone with access to the store can look the value up, and shows
{DIGEST_HEX} hex digits of a keyed digest of the value (HMAC-SHA256 under a random key made for
this report run and never stored) to tell equal values apart; the digest cannot be checked
against a guessed value. report.json holds the complete data.</footer>
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
    figures = [f for f in (s.figure() for s in report.sections) if f is not None]
    return (
        '<div class="figures">'
        + "".join(
            f'<div class="figure"><b>{num(v)}</b><span>{escape(k)}</span></div>' for k, v in figures
        )
        + "</div>"
    )


def _section(section: SectionBase) -> str:
    render = RENDERERS.get(section.id, lambda s: "")
    sid = escape(section.id)
    return f"""<section id="{sid}">
<h2><span>{escape(section.title)}</span>{badge(section.status)}</h2>
<div class="body">
<p class="summary">{escape(section.summary)}</p>
{bullets(section.problems, "problems")}{bullets(section.notes, "notes")}
{render(section)}
<p class="muted">Built in {section.seconds:.3f} s.</p>
</div>
</section>"""
