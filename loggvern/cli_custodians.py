"""The arguments of `loggvern custodians …` (kept apart so cli.py stays readable)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

AddActor = Callable[[argparse.ArgumentParser], None]


def add_custodians(sub: argparse._SubParsersAction, actor: AddActor) -> None:
    s = sub.add_parser("custodians", help="change who holds the vault key's shares")
    cu = s.add_subparsers(dest="action", required=True)
    c = cu.add_parser(
        "reshare",
        help="new vault key for new custodians; re-seals every vault entry, retires old shares",
    )
    c.add_argument("store", type=Path)
    c.add_argument("--custodians", required=True, metavar="A,B,C", help="the new custodians")
    c.add_argument("--threshold", required=True, type=int, metavar="M", help="the new quorum")
    c.add_argument(
        "--share",
        type=Path,
        action="append",
        required=True,
        metavar="FILE",
        help="a share of the CURRENT custodians (repeat: the current quorum's shares)",
    )
    actor(c)
