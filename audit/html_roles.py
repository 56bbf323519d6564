"""The body of the separation-of-duties section of report.html."""

from __future__ import annotations

from html import escape

from audit.html_parts import table
from audit.roles_models import RolesSection


def render_roles(s: RolesSection) -> str:
    groups = table(
        ["OS group", "Roles"],
        [[g, ", ".join(r)] for g, r in s.groups.items()],
        numeric=set(),
        empty="No groups are mapped.",
    )
    both = table(
        ["User", "Roles", "Through groups"],
        [[h.user, ", ".join(h.roles), ", ".join(h.groups)] for h in s.analyst_and_custodian],
        numeric=set(),
        empty="Nobody holds both analyst and custodian.",
        bad=lambda _: True,
    )
    holders = table(
        ["User", "Roles", "Through groups"],
        [[h.user, ", ".join(h.roles), ", ".join(h.groups)] for h in s.holders],
        numeric=set(),
        empty="Nobody holds a role.",
    )
    return (
        f"<p>Role map: {escape(s.source)}.</p>"
        + groups
        + f"<h3>Both analyst and custodian ({len(s.analyst_and_custodian)})</h3>"
        + both
        + f"<h3>Everyone holding a role ({len(s.holders)})</h3>"
        + holders
    )
