"""One ingest run as the ledger sees it, for batch ingest, each follow-mode batch and a
dead-letter replay alike: under the store's writer lock, finish what a killed writer
left (recovery), plan, ledger the intent, stage and commit, ledger the result, and only
then drop the staging directory.

A plan with nothing new to read (every input already ingested) runs nothing: its intent
and result are ledgered so the attempt is on record, and no run is created.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipelines.commit import RunSummary, discard_staging, load_journal
from pipelines.plan import IngestPlan
from pipelines.recover import Recovered, recover_runs
from pipelines.run import ProgressFn, run_ingest
from store.failpoints import failpoint
from store.key_periods import rotate_if_due
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind
from store.policy_registry import register_policy
from store.write_lock import store_writer

Planner = Callable[[], IngestPlan | None]  # None: nothing to do, nothing to ledger
Progress = Callable[[IngestPlan, Callable[[ProgressFn | None], RunSummary]], RunSummary]


@dataclass
class RunOutcome:
    summary: RunSummary
    plan: IngestPlan
    recovered: list[Recovered] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return self.plan.has_work


def ledgered_ingest(
    layout: StoreLayout,
    ledger: Ledger,
    planner: Planner,
    runner: str | None = None,
    workers: int = 1,
    runner_args: list[str] | None = None,
    progress: Progress | None = None,
    remove: tuple[str, ...] = (),
    intent_extra: dict[str, Any] | None = None,
) -> RunOutcome | None:
    with store_writer(layout):
        recovered = recover_runs(layout, ledger)
        rotate_if_due(layout, ledger)  # a key period that has run its course ends first
        plan = planner()
        if plan is None:
            return None
        policies = {
            name: {"id": p.policy.id, "version": p.policy.version,
                   "sha256": register_policy(layout, ledger, p.path, p.policy)}
            for name, p in plan.policies.items()
        }  # fmt: skip
        body = {**ingest_intent(plan, policies), **(intent_extra or {})}
        summary, interrupted = empty_summary(plan), False
        if plan.has_work or remove:  # staged before the intent: a kill after it is seen
            (layout.staging / plan.run_id).mkdir(parents=True, mode=0o700)
        with ledger.action(EntryKind.INGEST_INTENT, EntryKind.INGEST_RESULT, body) as outcome:
            failpoint("ingest.after_intent")
            if plan.has_work or remove:
                intent_seq = outcome.intent_seq

                def run(report: ProgressFn | None) -> RunSummary:
                    return run_ingest(plan, runner, workers, runner_args, report, intent_seq,
                                      remove)  # fmt: skip

                try:
                    summary = progress(plan, run) if progress else run(None)
                except KeyboardInterrupt:  # held back during the commit, delivered after it
                    journal = load_journal(layout.staging / plan.run_id)
                    if journal is None:
                        raise  # not committed: the run never happened
                    summary, interrupted = RunSummary(**journal.summary), True
                failpoint("ingest.before_result")
            summary.skipped = [f"{s.path}: {s.reason}" for s in plan.skipped]
            outcome.fields.update(
                read=summary.read, written=summary.written, rejected=summary.rejected,
                lake_files=summary.lake_files, dropped=summary.dropped,
                reasons=summary.reasons, formats=summary.formats, skipped=len(plan.skipped),
            )  # fmt: skip
        failpoint("ingest.after_result")
        discard_staging(layout, plan.run_id)
    if interrupted:
        raise KeyboardInterrupt  # the run is committed and ledgered; now stop
    return RunOutcome(summary, plan, recovered)


def empty_summary(plan: IngestPlan) -> RunSummary:
    return RunSummary(
        run_id=plan.run_id,
        source_format=plan.format_name,
        policy_id="auto" if plan.auto else plan.policy.id,
        policy_version=0 if plan.auto else plan.policy.version,
        files=list(plan.paths),
    )


def ingest_intent(plan: IngestPlan, policies: dict[str, dict[str, object]]) -> dict[str, object]:
    body: dict[str, object] = {
        "run_id": plan.run_id,
        "source": plan.format_name,
        "files": [
            {"path": f.path, "sha256": f.sha256, "bytes": f.bytes}
            | ({"from_byte": f.start, "from_line": f.first_line} if f.start else {})
            for f in plan.files
        ],
        "lines": plan.total_lines,
        "aliases": str(plan.aliases_path.resolve()) if plan.aliases_path else None,
        "timezone": plan.timezone,
    }
    if plan.skipped:
        body["skipped"] = [{"path": os.path.realpath(s.path), "reason": s.reason}
                           for s in plan.skipped]  # fmt: skip
    if plan.auto:
        body["policies"] = policies
        body["detected"] = [
            {"path": os.path.realpath(d.path), "sampled": d.sampled, "formats": d.counts,
             "by_header": d.fallback}
            for d in plan.detections
        ]  # fmt: skip
    else:
        body["policy"] = policies[plan.format_name]
    return body
