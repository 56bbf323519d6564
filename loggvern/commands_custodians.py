"""`loggvern custodians reshare`: a new vault key for new custodians, proved by the current
quorum's shares; every vault entry re-sealed, old shares retired, open break-glass
requests voided (see store/reshare.py)."""

from __future__ import annotations

import argparse

from loggvern.commands import actor_of
from loggvern.output import err, out
from queries.breakglass.void import RESHARE_REASON, requests_voided
from store.custodians import parse_custodians, read_share
from store.layout import StoreLayout
from store.ledger import Ledger
from store.reshare import reshare
from store.vault_reseal import ResealError

EXIT_FAILED = 1


def cmd_custodians(args: argparse.Namespace) -> int:
    return _reshare(args)  # the only action so far


def _reshare(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    names, threshold, _ = parse_custodians(args.custodians, args.threshold)
    shares = [read_share(path) for path in args.share]
    ledger = Ledger(layout, actor_of(args))
    try:
        result = reshare(
            layout, ledger, names, threshold, shares,
            void_requests=lambda: requests_voided(layout, ledger, RESHARE_REASON),
            on_wait=lambda: err.print(
                "loggvern: waiting for the store writer lock (an ingest batch, replay or "
                "retention run is writing)…"
            ),
        )  # fmt: skip
    except ResealError as exc:
        err.print(f"loggvern: {exc}; the vault was not changed", markup=False)
        return EXIT_FAILED
    body = result.body
    if result.recovered:
        out.print("finished an interrupted reshare; nothing else was done (run the command "
                  "again for a further change)")  # fmt: skip
    old, new = body["old"], body["new"]
    out.print(f"vault key {old['vault_key']} ({old['threshold']} of "
              f"{', '.join(old['custodians'])}) retired", markup=False)  # fmt: skip
    out.print(f"new vault key {new['vault_key']}: {new['threshold']} of "
              f"{len(new['custodians'])} custodians open it ({', '.join(new['custodians'])})",
              markup=False)  # fmt: skip
    out.print(f"{body['entries']} vault entries re-sealed in {body['entry_files']} file(s)")
    if body["voided_requests"]:
        out.print(f"break-glass requests voided (file them again): "
                  f"{', '.join(body['voided_requests'])}", markup=False)  # fmt: skip
    if body.get("retired_share_files"):
        out.print(f"{body['retired_share_files']} share file(s) of the retired key deleted "
                  "from the store")  # fmt: skip
    if new["threshold"] == 1:
        err.print("loggvern: warning: a quorum of 1: one custodian alone can re-identify.")
    err.print(
        f"loggvern: warning: the new custodians' shares are in {layout.root / 'custodians'}/. "
        "Hand each file to its custodian, then delete them from the store: shares left here "
        "defeat the quorum. The old shares open nothing in the store any more (but still "
        "open backups and bundles made before this reshare).",
        markup=False,
    )
    return 0
