"""What the front door adds to the ledger around every command: a refusal that no
lower layer recorded, and a signed checkpoint once the command is done."""

from __future__ import annotations

import argparse

from loggvern.commands import actor_of
from loggvern.output import err
from queries.session import QueryRefused, refusal_route, refuse
from store.layout import StoreLayout
from store.ledger import Ledger, LedgerError

ALREADY_LEDGERED = (QueryRefused,)  # sessions ledger their own refusals, with the SQL


def _ledger(args: argparse.Namespace) -> Ledger | None:
    store = getattr(args, "store", None)
    reads_ledger_only = args.command == "audit" and args.action != "report"
    if store is None or args.command == "demo" or reads_ledger_only:
        return None  # verify and head only read: a write first could hide what they look for
    layout = StoreLayout(store)
    if not layout.marker.is_file() or not (layout.ledger / "ledger.jsonl").is_file():
        return None  # no store here (the refusal said so); nothing to record into
    return Ledger(layout, actor_of(args))


def record_refusal(args: argparse.Namespace, exc: Exception) -> None:
    if isinstance(exc, ALREADY_LEDGERED) or getattr(exc, "ledgered", False):
        return
    ledger = _ledger(args)
    if ledger is None:
        return
    command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
    context = {name: getattr(args, name, None) for name in ("purpose", "case", "request")}
    try:
        refuse(ledger, command, refusal_route(exc), str(exc)[:500], **context)
    except LedgerError as failure:
        err.print(f"loggvern: the refusal could not be ledgered: {failure}", markup=False)


def checkpoint(args: argparse.Namespace) -> bool:
    """Sign the ledger's end after the command; False if that failed."""
    ledger = _ledger(args)
    if ledger is None:
        return True
    try:
        ledger.checkpoint()
    except LedgerError as failure:
        err.print(f"loggvern: ledger checkpoint failed: {failure}", markup=False)
        return False
    return True
