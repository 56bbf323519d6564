"""`loggvern deadletter replay STORE RUN`: parse a run's dead letters again after a
parser or policy fix, as a new ingest run that also retires the old dead letters."""

from __future__ import annotations

import argparse

from loggvern.commands import actor_of, import_pipelines, report_run
from pipelines.plan import IngestPlan, check_timezone
from store.layout import StoreLayout
from store.ledger import Ledger


def replay_command(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    check_timezone(args.timezone)
    import_pipelines()
    from pipelines.ledgered import ledgered_ingest
    from pipelines.replay import plan_replay

    retired = str((layout.deadletter / args.run).relative_to(layout.root))

    def planner() -> IngestPlan:
        return plan_replay(layout, args.run, args.source, args.timezone)

    result = ledgered_ingest(
        layout, Ledger(layout, actor_of(args)), planner, remove=(retired,),
        intent_extra={"replay_of": args.run},
    )  # fmt: skip
    assert result is not None
    report_run(result, args.store)
    return 0
