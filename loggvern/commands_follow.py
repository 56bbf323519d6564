"""`loggvern ingest STORE --source FORMAT --follow PATH_OR_GLOB`: the front door of
follow mode. Everything is checked before the first poll; a signal ends the loop after
the batch in hand is committed."""

from __future__ import annotations

import argparse
import glob
import os
import re

from loggvern.commands import actor_of, import_pipelines, report_run
from loggvern.output import err, out
from pipelines.plan import ConfigError, InputError, check_options, runner_args
from store.layout import StoreLayout
from store.ledger import Ledger


def follow_command(args: argparse.Namespace) -> int:
    if args.paths:
        raise InputError("give files to ingest once, or --follow, not both")
    if not args.interval > 0:
        raise ConfigError("--interval must be a positive number of seconds")
    layout = StoreLayout(args.store).require()
    check_options(layout, args.source, args.policy, args.aliases, args.timezone)
    patterns = [os.path.abspath(p) for p in args.follow]
    for pattern in patterns:
        directory = os.path.dirname(pattern)
        if re.search(r"[*?[]", directory) or not os.path.isdir(directory):
            raise InputError(f"{pattern}: its directory does not exist (or is a glob)")
        if not glob.glob(pattern):
            err.print(f"loggvern: {pattern}: no such file yet; waiting for it", markup=False)
    import_pipelines()
    from pipelines.follow import FollowOptions, follow
    from pipelines.signals import StopFlag

    stop = StopFlag()
    stop.install()
    options = FollowOptions(
        args.source, patterns, args.policy, args.aliases, args.timezone, args.interval,
        runner=args.runner, workers=args.workers,
        runner_args=tuple(runner_args(args.runner_options)),
    )  # fmt: skip
    err.print(f"following {', '.join(patterns)} every {args.interval:g} s; "
              "SIGINT/SIGTERM stop after the batch in hand", markup=False)  # fmt: skip
    totals = follow(
        layout, Ledger(layout, actor_of(args)), options, stop,
        on_batch=lambda result: report_run(result, args.store),
        on_note=lambda note: err.print(note, markup=False),
    )  # fmt: skip
    out.print(
        f"stopped: {totals.batches} batches, read={totals.read} written={totals.written} "
        f"rejected={totals.rejected}"
    )
    return 0
