"""`loggvern keys …`: key operations an operator runs by hand. Today one: start a new
pseudonym key period (`keys rotate`); ingest also rotates when a period is due, and
the retention run destroys spent periods (store/key_periods.py)."""

from __future__ import annotations

import argparse

from loggvern.commands import actor_of
from loggvern.output import err, out
from store.key_periods import rotate
from store.layout import StoreLayout
from store.ledger import Ledger
from store.write_lock import store_writer

DEFAULT_REASON = "rotated by command"


def cmd_keys(args: argparse.Namespace) -> int:
    return _ACTIONS[args.action](args)


def _rotate(args: argparse.Namespace) -> int:
    """Prints the new period's id; never a key."""
    layout = StoreLayout(args.store).require()
    with store_writer(layout, wait=False):  # never inside an ingest, replay or retention run
        period = rotate(layout, Ledger(layout, actor_of(args)), args.reason or DEFAULT_REASON)
    out.print(period.id)
    err.print(
        f"pseudonym key period {period.id} started; k{period.number - 1} retired (kept until none "
        "of its pseudonyms is left in the lake)",
        markup=False,
    )
    return 0


_ACTIONS = {"rotate": _rotate}
