"""`loggvern breakglass …`: request, approve, reveal (on the store or from a bundle on a
custodian's machine), record, list, and mark the employee notified."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.table import Table
from rich.text import Text

from loggvern.commands import actor_of
from loggvern.output import err, out
from queries.breakglass.approve import approve_request
from queries.breakglass.bundle import export_bundle
from queries.breakglass.bundle_open import open_bundle, record_receipt
from queries.breakglass.create import file_request
from queries.breakglass.lifecycle import expire_due
from queries.breakglass.opening import Opened, describe
from queries.breakglass.request import BreakGlassError, get_request, locked_requests, save_requests
from queries.breakglass.reveal import reveal
from store.cases import parse_time
from store.custodians import Share, read_share
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from transforms.identity import AliasDirectory


def cmd_breakglass(args: argparse.Namespace) -> int:
    return _ACTIONS[args.action](args)


def _request(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    request = file_request(
        layout, Ledger(layout, actor_of(args)), case_id=args.case, purpose=args.purpose,
        justification=args.justification, pseudonyms=args.pseudonym, notify=args.notify,
        window_from=parse_time(args.window_from, "--from") if args.window_from else None,
        window_to=parse_time(args.window_to, "--to") if args.window_to else None,
        notify_by=parse_time(args.notify_by, "--notify-by") if args.notify_by else None,
        valid_for=timedelta(hours=args.valid_hours),
    )  # fmt: skip
    out.print(request.id)
    err.print(
        f"{request.id}: {len(request.pseudonyms)} pseudonym(s), needs {request.threshold} "
        f"custodian approval(s) before {request.expires_at:%Y-%m-%d %H:%M} UTC",
        markup=False,
    )
    return 0


def _approve(args: argparse.Namespace) -> int:
    if not args.actor:
        raise BreakGlassError("invalid_request", "approve needs --as CUSTODIAN")
    layout = StoreLayout(args.store).require()
    share = read_share(args.share)
    request = approve_request(layout, Ledger(layout, args.actor), args.request, args.actor, share)
    state = request.state().value
    out.print(f"{request.id}: approved by {args.actor} ({len(request.approvals)} of "
              f"{request.threshold}; {state})")  # fmt: skip
    return 0


def _reveal(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    shares = _shares(args.share)
    aliases = AliasDirectory.load(args.aliases) if args.aliases else None
    request, opened = reveal(layout, Ledger(layout, actor_of(args)), args.request, shares)
    _print_opened(request.id, opened, aliases)
    return 0


def _bundle(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    bundle = export_bundle(layout, Ledger(layout, actor_of(args)), args.request, args.out)
    out.print(f"{args.out}: {len(bundle.entries)} sealed entries for {bundle.request.id}, "
              f"signed by {bundle.signing_key}")  # fmt: skip
    err.print("  open it on a custodian's machine: loggvern breakglass open FILE --share …")
    return 0


def _open(args: argparse.Namespace) -> int:
    receipt_path = args.receipt or args.bundle.with_name(args.bundle.name + ".receipt.json")
    if receipt_path.exists():  # never over an earlier receipt; checked before opening
        raise BreakGlassError("invalid_request", f"{receipt_path}: exists; give --receipt")
    shares = _shares(args.share)
    aliases = AliasDirectory.load(args.aliases) if args.aliases else None
    bundle, opened, receipt = open_bundle(args.bundle, shares, args.key)
    if args.key is None:
        err.print(f"warning: bundle signed by {bundle.signing_key}; pass --key to pin it")
    with open(receipt_path, "x", encoding="utf-8") as fh:
        fh.write(receipt.model_dump_json(indent=2) + "\n")
    _print_opened(bundle.request.id, opened, aliases)
    err.print(f"receipt (pseudonyms only): {receipt_path}", markup=False)
    err.print(f"  record it: loggvern breakglass record STORE {bundle.request.id} "
              f"--revealed {receipt_path}", markup=False)  # fmt: skip
    return 0


def _record(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    request, receipt = record_receipt(
        layout, Ledger(layout, actor_of(args)), args.request, args.revealed
    )
    out.print(f"{request.id}: recorded {len(receipt.revealed)} pseudonym(s) revealed from a "
              f"bundle by {', '.join(receipt.custodians)}")  # fmt: skip
    return 0


def _notified(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    ledger = Ledger(layout, actor_of(args))
    with locked_requests(layout) as requests:
        request = get_request(requests, args.request)
        if request.notified_at is not None:
            raise BreakGlassError("invalid_request", f"{request.id}: already marked notified")
        ledger.append(EntryKind.BREAKGLASS_NOTIFIED, {"request": request.id, "note": args.note})
        request.notified_at = datetime.now(UTC)
        save_requests(layout, requests)
    out.print(f"{request.id}: employee notification recorded")
    return 0


def _list(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    with locked_requests(layout) as requests:
        if expire_due(Ledger(layout, actor_of(args)), requests):
            save_requests(layout, requests)
    now = datetime.now(UTC)
    table = Table(title="break-glass requests", title_justify="left")
    for column in ("id", "state", "case", "purpose", "requested by", "approvals", "expires",
                   "notify"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for r in requests.values():
        notice = r.notify.mode if r.notify.due is None else f"deferred to {r.notify.due:%Y-%m-%d}"
        if r.notification_overdue(now):
            notice += " (OVERDUE)"
        elif r.notified_at is not None:
            notice += " (notified)"
        table.add_row(
            r.id, r.state(now).value, r.case, r.purpose.value, r.requested_by,
            f"{', '.join(r.approvers) or '-'} ({len(r.approvals)}/{r.threshold})",
            f"{r.expires_at:%Y-%m-%d %H:%M}", notice,
        )  # fmt: skip
    out.print(table if requests else "no break-glass requests")
    return 0


def _shares(paths: list[Path] | None) -> list[Share]:
    if not paths:
        raise BreakGlassError("invalid_request", "give the quorum's shares with --share FILE …")
    return [read_share(p) for p in paths]


def _print_opened(request_id: str, opened: Opened, aliases: AliasDirectory | None) -> None:
    table = Table(title=f"{request_id}: revealed", title_justify="left")
    for column in ("pseudonym", "kind", "identity"):
        table.add_column(column, no_wrap=column == "pseudonym")
    for pseudonym, (kind, identity) in opened.identities.items():
        table.add_row(pseudonym, kind, Text(describe(identity, aliases)))  # Text: no markup
    out.print(table)
    for label, items in (("not in the vault (never sealed)", opened.not_in_vault),
                         ("refused: identity does not match", opened.failed_check)):  # fmt: skip
        if items:
            err.print(f"{label}: {', '.join(items)}", markup=False)


_ACTIONS = {
    "request": _request, "approve": _approve, "reveal": _reveal, "bundle": _bundle,
    "open": _open, "record": _record, "notified": _notified, "list": _list,
}  # fmt: skip
