"""The body of the break-glass section of report.html: one row per request (who asked,
why, for which pseudonyms, who approved, what was revealed where, how the employee is
told), the overdue employee notices and the break-glass refusals by route.

Kept apart from `audit.html_sections` (which registers it) because a request has more
to show than any other row of the report.
"""

from __future__ import annotations

from html import escape

from audit.breakglass_models import BreakGlassItem, BreakGlassSection, Notice, Reveal
from audit.html_parts import Raw, table, time_cell, when


def render_breakglass(s: BreakGlassSection) -> str:
    requests = table(
        ["Request", "Case and purpose", "Justification", "Pseudonyms and window", "Expires",
         "Approvals", "State", "Reveal", "Employee notice", "Problems"],
        [
            [Raw(f"<b>{escape(i.id)}</b><br>{time_cell(i.requested_at)}<br>"
                 f"by {escape(i.requester or '?')}"),
             Raw(f"{escape(i.case or '—')}<br><span class='muted'>{escape(i.purpose or '')}"
                 "</span>"),
             i.justification,
             Raw(_codes(i.pseudonyms) + f"<br><span class='muted'>{escape(when(i.window_from))}"
                 f" – {escape(when(i.window_to))}</span>"),
             Raw(time_cell(i.expires_at)),
             Raw(_approvals(i)), i.state,
             Raw("<hr>".join(_reveal(r) for r in i.reveals) + _bundles(i)) or None,
             Raw(_notice(i.notice)), "; ".join(i.problems)]
            for i in s.requests
        ],
        numeric=set(),
        bad=lambda r: bool(r[9]),
        empty="No break-glass request is recorded.",
    )  # fmt: skip
    overdue = table(
        ["Request", "Case", "Requester", "Deferred because", "Due"],
        [[o.request, o.case, o.requester, o.reason, Raw(time_cell(o.due))]
         for o in s.overdue_notices],
        numeric=set(),
        bad=lambda r: True,
        empty="No employee notice is overdue.",
    )  # fmt: skip
    routes = table(
        ["Route", "Refusals"],
        [[r, n] for r, n in s.refusals_by_route.items()],
        numeric={1},
        empty="No break-glass step was refused.",
    )
    return (
        f"<h3>Requests ({s.total})</h3>"
        + requests
        + f"<h3>Overdue employee notifications ({len(s.overdue_notices)})</h3>"
        + overdue
        + f"<h3>Break-glass refusals by route ({s.refusals})</h3>"
        + routes
    )


def _codes(pseudonyms: list[str]) -> str:
    return ", ".join(f"<code>{escape(p)}</code>" for p in pseudonyms) or "—"


def _approvals(i: BreakGlassItem) -> str:
    of = f" of {i.threshold} needed" if i.threshold is not None else ""
    lines = [f"{escape(a.actor)} <span class='muted'>{escape(when(a.time))}</span>"
             for a in i.approvals]  # fmt: skip
    return "<br>".join(lines) + f"<br><span class='muted'>{len(i.approvals)}{of}</span>"


def _reveal(r: Reveal) -> str:
    outcome = escape(r.outcome + (f": {r.error}" if r.error else ""))
    text = (
        f"{escape(when(r.time))} from the {escape(r.where or '?')} by {escape(r.actor)}, "
        f"custodians {escape(', '.join(r.custodians) or '—')}: {outcome}"
    )
    if r.opened_at:
        text += f"<br>bundle opened {escape(when(r.opened_at))}"
    if r.revealed:
        text += f"<br>opened {_codes(r.revealed)}"
    for label, names in (("not in vault", r.not_in_vault), ("failed check", r.failed_check)):
        if names:
            text += f"<br>{label}: {_codes(names)}"
    return text


def _bundles(i: BreakGlassItem) -> str:
    return "".join(
        f"<br>bundle of {b.entries if b.entries is not None else '?'} entries "
        f"<code>{escape((b.sha256 or '')[:16])}</code> by {escape(b.actor)}"
        for b in i.bundles
    )


def _notice(n: Notice) -> str:
    if n.mode != "deferred":
        text = escape(n.mode or "—")
    else:
        text = f"deferred until {escape(when(n.due))}: {escape(n.reason or '')}"
    if n.notified_at:
        return (
            text + f"<br>notified {escape(when(n.notified_at))} by {escape(n.notified_by or '?')}"
        )
    return text + ("<br><b>OVERDUE</b>" if n.overdue else "<br>not yet notified")
