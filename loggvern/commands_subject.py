"""What the subject-access subcommand does, given its parsed arguments."""

from __future__ import annotations

import argparse

from loggvern.commands import actor_of
from loggvern.output import err, out
from queries.subject_access import REPORT_JSON, REPORT_TEXT, subject_access
from store.layout import StoreLayout


def cmd_subject_access(args: argparse.Namespace) -> int:
    """GDPR art. 15 report for one employee, run by an operator inside an open case."""
    report = subject_access(
        StoreLayout(args.store), args.identity, args.case, args.out, actor_of(args), args.aliases
    )
    if not report.known_employee:
        err.print(
            "loggvern: warning: the identity is not in the alias directory; only its own "
            "normalised form was searched (pass --aliases to cover every alias)",
            markup=False,
        )
    events = sum(e.events for e in report.events)
    out.print(
        f"subject access ({report.case}): {events} event(s) in {len(report.events)} "
        f"dataset/purpose partition(s), {len(report.reveals)} reveal(s)",
        markup=False,
    )
    out.print(f"written: {args.out / REPORT_JSON}, {args.out / REPORT_TEXT}", markup=False)
    return 0
