"""Follow mode: keep ingesting what is appended to a set of files, as micro-batches.

Beam's local runners cannot stream from files offline, so each poll that finds new
complete lines runs the same bounded pipeline over just those byte ranges, and commits
them with the manifest's new positions in one commit record (pipelines/commit.py):
every line lands exactly once, across rotations, restarts and kills. SIGINT/SIGTERM
let the batch in hand finish and commit, then the loop stops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.follow_scan import FollowScan, scan
from pipelines.ledgered import RunOutcome, ledgered_ingest
from pipelines.plan import IngestPlan, plan_slices
from pipelines.signals import StopFlag
from store.failpoints import failpoint
from store.layout import StoreLayout
from store.ledger import Ledger
from store.manifest import load_manifest

BATCH_BYTES = 64 << 20  # per micro-batch: bounded memory, and a commit at least this often


@dataclass(frozen=True)
class FollowOptions:
    source: str
    patterns: list[str]
    policy: Path | None = None
    aliases: Path | None = None
    timezone: str = "UTC"
    interval: float = 2.0
    batch_bytes: int = BATCH_BYTES
    runner: str | None = None
    workers: int = 1
    runner_args: tuple[str, ...] = ()


@dataclass
class FollowTotals:
    batches: int = 0
    read: int = 0
    written: int = 0
    rejected: int = 0
    notes: list[str] = field(default_factory=list)


def follow(
    layout: StoreLayout,
    ledger: Ledger,
    options: FollowOptions,
    stop: StopFlag,
    on_batch: Callable[[RunOutcome], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    max_polls: int | None = None,
) -> FollowTotals:
    totals = FollowTotals()
    told: set[str] = set()
    polls = 0
    while not stop.stopped and (max_polls is None or polls < max_polls):
        polls += 1
        found = FollowScan()

        def planner() -> IngestPlan | None:
            nonlocal found
            found = scan(options.patterns, load_manifest(layout), options.batch_bytes)
            if not found.slices:
                return None
            return plan_slices(
                layout.root, options.source, found.slices, options.policy, options.aliases,
                options.timezone, forget=tuple(found.forget),
            )  # fmt: skip

        outcome = ledgered_ingest(layout, ledger, planner, options.runner, options.workers,
                                  list(options.runner_args))  # fmt: skip
        for note in found.notes:
            if note not in told:
                told.add(note)
                totals.notes.append(note)
                if on_note:
                    on_note(note)
        if outcome is not None:
            ledger.checkpoint()  # the signed head keeps up with a command that runs for months
            totals.batches += 1
            totals.read += outcome.summary.read
            totals.written += outcome.summary.written
            totals.rejected += outcome.summary.rejected
            if on_batch:
                on_batch(outcome)
            failpoint("follow.between_batches")
        if not found.more:
            stop.wait(options.interval)
    return totals
