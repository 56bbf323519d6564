"""The arguments of `loggvern hold …` and `loggvern retention run` (kept apart so
cli.py stays readable). The retention run has no option to move its date: it always
counts from today (UTC)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

AddActor = Callable[[argparse.ArgumentParser], None]


def add_retention(sub: argparse._SubParsersAction, actor: AddActor) -> None:
    s = sub.add_parser("hold", help="legal holds: keep partitions past retention for a case")
    holds = s.add_subparsers(dest="action", required=True)
    h = holds.add_parser("add", help="hold partitions for an open case (prints the hold id)")
    h.add_argument("store", type=Path)
    h.add_argument("--case", required=True, metavar="ID", help="an open case")
    h.add_argument("--reason", required=True, help="why the data must be kept")
    h.add_argument("--dataset", metavar="D", help="only this dataset (default: all)")
    h.add_argument("--purpose", metavar="P", help="only this purpose (default: both)")
    h.add_argument("--from", dest="date_from", metavar="DATE", help="first partition date held")
    h.add_argument("--to", dest="date_to", metavar="DATE", help="last partition date held")
    actor(h)
    h = holds.add_parser("list", help="active and released holds")
    h.add_argument("store", type=Path)
    actor(h)
    h = holds.add_parser("release", help="end a hold; the next retention run purges")
    h.add_argument("store", type=Path)
    h.add_argument("hold_id", metavar="HOLD_ID")
    h.add_argument("--reason", required=True, help="why the hold ends")
    actor(h)

    s = sub.add_parser("retention", help="enforce retention (operator)")
    runs = s.add_subparsers(dest="action", required=True)
    r = runs.add_parser("run", help="purge what is past retention, except what is held")
    r.add_argument("store", type=Path)
    actor(r)
