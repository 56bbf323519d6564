"""The arguments of `loggvern breakglass …` (kept apart so cli.py stays readable)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

AddActor = Callable[[argparse.ArgumentParser], None]


def add_breakglass(sub: argparse._SubParsersAction, actor: AddActor) -> None:
    s = sub.add_parser("breakglass", help="re-identify pseudonyms with a custodian quorum")
    bg = s.add_subparsers(dest="action", required=True)

    def on_request(name: str, text: str) -> argparse.ArgumentParser:
        b = bg.add_parser(name, help=text)
        b.add_argument("store", type=Path)
        b.add_argument("request", metavar="REQ")
        actor(b)
        return b

    b = bg.add_parser("request", help="ask to reveal pseudonyms for a case (prints its id)")
    b.add_argument("store", type=Path)
    b.add_argument("--case", required=True)
    b.add_argument("--purpose", required=True, help="security_incident or network_administration")
    b.add_argument("--justification", required=True, help="why (at least 40 characters)")
    b.add_argument("--pseudonym", action="extend", required=True, metavar="P", nargs="+")
    b.add_argument("--from", dest="window_from", metavar="T", help="default: the case window")
    b.add_argument("--to", dest="window_to", metavar="T")
    b.add_argument("--notify", required=True, metavar="now|deferred:REASON")
    b.add_argument("--notify-by", metavar="DATE", help="due date of a deferred notice (+30 d)")
    b.add_argument("--valid-hours", type=float, default=24.0, help="request lifetime (24)")
    actor(b)
    b = on_request("approve", "a custodian approves, proving it with their share")
    b.add_argument("--share", type=Path, required=True, metavar="FILE")
    b = on_request("reveal", "open the request's pseudonyms with the quorum's shares")
    b.add_argument("--share", type=Path, action="append", metavar="FILE")
    b.add_argument("--aliases", type=Path, help="alias CSV: show the employee's identifiers")
    b = on_request("bundle", "export the request's sealed entries for a custodian")
    b.add_argument("--out", type=Path, required=True, metavar="FILE")
    b = bg.add_parser("open", help="open a bundle away from the store (custodians present)")
    b.add_argument("bundle", type=Path, metavar="FILE")
    b.add_argument("--share", type=Path, action="append", metavar="FILE")
    b.add_argument("--key", metavar="FINGERPRINT", help="the store's pinned signing key")
    b.add_argument("--receipt", type=Path, metavar="FILE", help="default: FILE.receipt.json")
    b.add_argument("--aliases", type=Path, help="alias CSV: show the employee's identifiers")
    b = on_request("record", "ledger what was opened from a bundle")
    b.add_argument("--revealed", type=Path, required=True, metavar="RECEIPT")
    b = on_request("notified", "record that the employee has been told")
    b.add_argument("--note", default="", help="how and when")
    b = bg.add_parser("list", help="requests and their state")
    b.add_argument("store", type=Path)
    actor(b)
