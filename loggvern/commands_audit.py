"""What the case, audit and stats subcommands do, given their parsed arguments."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from loggvern.commands import actor_of
from loggvern.output import err, out, render
from queries.named import named_queries
from queries.stats import run_stats
from store.cases import close_case, load_cases, open_case, parse_time
from store.layout import StoreLayout
from store.ledger import Ledger, LedgerError
from store.ledger_entry import EntryKind
from store.ledger_verify import verify_ledger
from store.signing import Head

if TYPE_CHECKING:
    from audit.report import AuditReport


def cmd_case(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    ledger = Ledger(layout, actor_of(args))
    if args.action == "open":
        start = parse_time(args.window_from, "--from") if args.window_from else None
        end = parse_time(args.window_to, "--to") if args.window_to else None
        case = open_case(layout, ledger, args.title, args.justification, start, end)
        until = case.window_to.isoformat() if case.window_to else "until closed"
        out.print(f"{case.id} opened: window {case.window_from.isoformat()} → {until}")
    elif args.action == "close":
        case = close_case(layout, ledger, args.case_id, args.reason or "")
        out.print(f"{case.id} closed")
    else:
        table = Table(title="cases", title_justify="left")
        for column in ("id", "state", "title", "window", "opened by", "opened"):
            table.add_column(column, overflow="fold")
        for case in load_cases(layout).values():
            end = case.window_end.strftime("%Y-%m-%d %H:%M") if case.window_end else "open"
            table.add_row(
                case.id, "open" if case.is_open else "closed", case.title,
                f"{case.window_from:%Y-%m-%d %H:%M} → {end}", case.opened_by,
                f"{case.opened_at:%Y-%m-%d %H:%M}",
            )  # fmt: skip
        out.print(table)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    if args.action == "head":
        head = Ledger(layout, actor_of(args)).head()
        print(head.model_dump_json(indent=2))
        return 0
    if args.action == "report":
        report = audit_report(layout, args.out, args.aliases or (), actor_of(args))
        out.print(f"wrote {args.out / 'report.html'} and {args.out / 'report.json'}")
        for problem in report.problems:
            err.print(f"problem: {problem}", markup=False)
        return 0 if report.ok else 1
    against = None
    if args.against:
        try:
            against = Head.model_validate_json(args.against.read_bytes())
        except (OSError, ValueError) as exc:
            raise LedgerError(f"{args.against}: not a signed head ({type(exc).__name__})") from None
    result = verify_ledger(layout.ledger, args.key, against)
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False)
    (out if result.ok else err).print(result.summary(), markup=False)
    if args.json:
        print(json.dumps(result.__dict__, indent=2))
    return 0 if result.ok else 1


def audit_report(
    layout: StoreLayout, out_dir: Path, aliases: Sequence[Path], actor: str
) -> AuditReport:
    """Write the auditor's report; the report run itself is ledgered (intent, result)."""
    from audit.report import write_report

    body = {"out": str(out_dir.resolve()), "aliases": [str(a) for a in aliases]}
    with Ledger(layout, actor).action(
        EntryKind.AUDIT_REPORT, EntryKind.AUDIT_REPORT, body
    ) as outcome:
        report = write_report(layout, out_dir, aliases)
        outcome.fields["report_ok"] = report.ok
    return report


def cmd_stats(args: argparse.Namespace) -> int:
    if args.list or not args.named:
        for query in named_queries().values():
            if query.purpose == "statistics":
                out.print(f"{query.name}: {query.description}", markup=False)
        return 0
    result = run_stats(StoreLayout(args.store), args.named, args.param, actor_of(args))
    render(result.table, args.format, out)
    err.print(
        f"k={result.k}: {result.suppressed} group(s) with fewer than {result.k} people suppressed"
    )
    return 0
