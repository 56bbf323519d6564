"""How report.html looks: the page's inline CSS, each section heading's solid
background colour (`SECTION_COLOURS`) and the status colours (`STATUS_COLOURS`).

The colours are kept apart and named so that a reader, or a screenshot test, can find
each section and the overall status at a glance.
"""

from __future__ import annotations

from audit.section import Status

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
    "breakglass": "#4e342e",  # dark brown
    "roles": "#1a237e",  # indigo
}
OTHER_SECTION_COLOUR = "#333333"  # a section added without a colour of its own
STATUS_COLOURS: dict[str, str] = {
    Status.ok: "#1a7f37",  # green
    Status.warning: "#9a6700",  # amber
    Status.failed: "#cf222e",  # red
}

CSS = """
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
