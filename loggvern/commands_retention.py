"""What the hold and retention subcommands do, given their parsed arguments."""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime

from rich.table import Table

from loggvern.commands import actor_of
from loggvern.output import err, out
from store.holds import add_hold, load_holds, parse_day, release_hold
from store.layout import StoreLayout
from store.ledger import Ledger
from store.retention_models import RetentionResult
from store.retention_run import run_retention

EXIT_FAILED = 1


def cmd_hold(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    ledger = Ledger(layout, actor_of(args))
    if args.action == "add":
        start = parse_day(args.date_from, "--from") if args.date_from else None
        end = parse_day(args.date_to, "--to") if args.date_to else None
        hold = add_hold(layout, ledger, args.case, args.reason, args.dataset, args.purpose,
                        start, end)  # fmt: skip
        out.print(f"{hold.id} added for {hold.case}: {hold.scope()}", markup=False)
    elif args.action == "release":
        hold = release_hold(layout, ledger, args.hold_id, args.reason)
        out.print(f"{hold.id} released; the next retention run purges what it held")
    else:
        table = Table(title="legal holds", title_justify="left")
        for column in ("id", "state", "case", "scope", "reason", "added"):
            table.add_column(column, overflow="fold")
        for hold in load_holds(layout).values():
            state = "active" if hold.active else f"released {hold.released_at:%Y-%m-%d}"
            table.add_row(hold.id, state, hold.case, hold.scope(), hold.reason,
                          f"{hold.added_at:%Y-%m-%d %H:%M} by {hold.added_by}")  # fmt: skip
        out.print(table)
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    result = run_retention(layout, Ledger(layout, actor_of(args)), datetime.now(UTC).date())
    print_result(result)
    for error in result.errors:
        err.print(f"loggvern: {error}", markup=False)
    return 0 if result.ok else EXIT_FAILED


def print_result(result: RetentionResult) -> None:
    title = f"retention run, today {result.today} (UTC): removed, and held partitions"
    table = Table(title=title, title_justify="left")
    for column in ("dataset", "purpose"):
        table.add_column(column, no_wrap=True)
    for column in ("partitions", "files", "rows", "held"):
        table.add_column(column, justify="right")
    partitions: Counter[tuple[str, str]] = Counter()
    files: Counter[tuple[str, str]] = Counter()
    rows: Counter[tuple[str, str]] = Counter()
    held: Counter[tuple[str, str]] = Counter()
    for f in result.purged:
        files[(f.dataset, f.purpose)] += 1
        rows[(f.dataset, f.purpose)] += f.rows
    for key in {(f.dataset, f.purpose, f.date) for f in result.purged}:
        partitions[key[:2]] += 1
    for h in result.held:
        held[(h.dataset, h.purpose)] += 1
    for key in sorted(set(files) | set(held)):
        table.add_row(*key, str(partitions[key]), str(files[key]), str(rows[key]), str(held[key]))
    out.print(table)
    for h in result.held:
        out.print(
            f"held: {h.dataset}/{h.purpose}/date={h.date} ({h.rows} rows) by "
            f"{', '.join(h.holds)} for {', '.join(h.cases)}",
            markup=False,
        )
    if result.tombstones_reapplied:
        out.print(
            f"tombstones re-applied: {len(result.tombstones_reapplied)} file(s) an earlier "
            "purge removed were back (a restored backup?) and were removed again"
        )
    vault = result.vault
    if vault is not None:
        out.print(
            f"vault: {vault.entries_removed} entries of pseudonyms gone from the lake removed, "
            f"{vault.entries_kept} kept"
        )
    dl = result.deadletter
    out.print(
        f"dead letters: {len(dl.removed)} run(s), {dl.files} file(s) older than "
        f"{dl.retention_days} days removed"
    )
    for partition in result.unknown_retention:
        out.print(f"kept, no policy grants its purpose: {partition}", markup=False)
    if result.key_ids is not None:
        out.print(f"pseudonym keys still in the lake: {', '.join(result.key_ids) or 'none'}")
    if result.keys_destroyed:
        out.print(f"pseudonym keys destroyed (nothing of their period is left): "
                  f"{', '.join(result.keys_destroyed)}")  # fmt: skip
