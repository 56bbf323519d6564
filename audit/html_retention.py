"""The body of the retention section of report.html: partitions per dataset × purpose ×
policy (overdue ones marked), the partitions legal holds keep, the active holds, the
last retention run and what all purges removed.

Kept apart from `audit.html_sections` (which registers it) so each file stays small.
"""

from __future__ import annotations

from html import escape

from audit.html_parts import Raw, num, table, time_cell
from audit.retention_models import RetentionSection

_CASE_STATE = {True: "", False: " (case closed)", None: " (no such case)"}


def _dates(dates: list[str]) -> str:
    shown = ", ".join(dates[:10])
    return shown + (f" … ({len(dates)})" if len(dates) > 10 else "")


def render_retention(s: RetentionSection) -> str:
    grid = table(
        ["Dataset", "Purpose", "Policy", "Retention (days)", "Rows", "Oldest partition",
         "Age (days)", "Overdue before", "Overdue partitions", "Held partitions"],
        [
            [i.dataset, i.purpose, i.policy or "(no known policy)", i.retention_days, i.rows,
             i.oldest, i.age_days, i.cutoff, _dates(i.overdue_partitions) or "none",
             _dates(i.held_partitions) or None]
            for i in s.items
        ],
        numeric={3, 4, 6},
        bad=lambda r: r[8] != "none",
        empty="No policy grants a purpose and the lake is empty.",
    )  # fmt: skip
    held = table(
        ["Dataset", "Purpose", "Partition", "Holds", "Cases"],
        [[h.dataset, h.purpose, h.date, ", ".join(h.holds), ", ".join(h.cases)] for h in s.held],
        numeric=set(),
        empty="No partition past its retention is held.",
    )
    holds = table(
        ["Hold", "Case", "Scope", "Reason", "Added"],
        [
            [h.id, h.case + _CASE_STATE[h.case_open], h.scope, h.reason,
             Raw(time_cell(h.added_at) + f"<br>by {escape(h.added_by)}")]
            for h in s.holds
        ],
        numeric=set(),
        bad=lambda r: r[1].endswith(")"),  # the case is closed or unknown
        empty="No legal hold is active.",
    )  # fmt: skip
    return (
        f"<p>Today (UTC): {escape(s.today)}. Policies: {escape(s.policy_source)}.</p>"
        + grid
        + f"<h3>Partitions kept by a legal hold ({s.held_partitions})</h3>"
        + held
        + f"<h3>Active legal holds ({len(s.holds)})</h3>"
        + holds
        + "<h3>Retention runs</h3>"
        + _runs(s)
    )


def _runs(s: RetentionSection) -> str:
    p = s.purges
    totals = (
        f"<p>{num(p.runs)} retention run(s) removed {num(p.lake_files)} lake file(s) "
        f"({num(p.rows)} rows), {num(p.vault_entries)} vault entries and "
        f"{num(p.deadletter_runs)} dead-letter run(s); {num(p.tombstones_reapplied)} restored "
        "file(s) were removed again.</p>"
    )
    run = s.last_run
    if run is None:
        return totals + '<p class="muted">No retention run is recorded.</p>'
    last = table(
        ["Entry", "Time (UTC)", "Actor", "Today", "Outcome", "Files removed", "Rows removed",
         "Held partitions", "Vault entries removed", "Dead-letter runs removed", "Key ids"],
        [[run.seq, Raw(time_cell(run.time)), run.actor, run.today, run.outcome,
          run.files_removed, run.rows_removed, run.held_partitions, run.vault_entries_removed,
          run.deadletter_runs_removed, ", ".join(run.key_ids) if run.key_ids else None]],
        numeric={0, 5, 6, 7, 8, 9},
        bad=lambda r: r[4] != "ok",
        empty="",
    )  # fmt: skip
    return totals + "<p>The last run:</p>" + last
