"""Running a planned ingest: build the Beam pipeline, run it, commit the run.

Progress is observed from the outside (the parts' reports appear in the run's staging
directory as workers finish them), so it works the same on every runner.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from pipelines.commit import RunSummary, commit_run, load_journal, write_intent
from pipelines.ingest import IngestJob, build, build_replay
from pipelines.plan import IngestPlan
from pipelines.runner import make_pipeline
from pipelines.signals import signals_deferred
from store.key_periods import current_period
from transforms import expire

ProgressFn = Callable[[int], None]  # called with the number of lines done so far


def run_ingest(
    plan: IngestPlan,
    runner: str | None = None,
    workers: int = 1,
    runner_args: list[str] | None = None,
    progress: ProgressFn | None = None,
    intent_seq: int | None = None,
    remove: tuple[str, ...] = (),
) -> RunSummary:
    """Stage the run through Beam, then commit it. The staging directory stays until
    the caller has ledgered the result (`discard_staging`): a crash before that is
    finished by recovery from the commit record."""
    job = job_for(plan)
    summary = RunSummary(
        run_id=plan.run_id,
        source_format=plan.format_name,
        policy_id="auto" if plan.auto else plan.policy.id,
        policy_version=0 if plan.auto else plan.policy.version,
        files=list(plan.paths),
        started=datetime.now(UTC).isoformat(),
    )
    run_dir = job.run_dir
    run_dir.mkdir(parents=True, mode=0o700, exist_ok=True)  # the caller may have made it
    write_intent(run_dir, intent_seq)
    watcher = _Watcher(run_dir / "reports", progress) if progress else None
    try:
        try:
            if plan.has_work:
                pipeline = make_pipeline(runner, workers, runner_args)
                if plan.replay:
                    build_replay(pipeline, job, list(plan.replay))
                else:
                    build(pipeline, job, list(plan.splits))
                if watcher:
                    watcher.start()
                pipeline.run().wait_until_finish()
        finally:
            if watcher:
                watcher.stop()  # before the commit removes the directory it watches
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing of a failed run becomes visible
        raise
    with signals_deferred():
        try:
            return commit_run(plan.layout, summary, plan.total_lines, plan.positions,
                              plan.contents, remove, plan.forget)  # fmt: skip
        except BaseException:
            if load_journal(run_dir) is None:  # not committed: it never happened
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


def job_for(plan: IngestPlan) -> IngestJob:
    return IngestJob(
        store=str(plan.layout.root.resolve()),
        run_id=plan.run_id,
        format_name=plan.format_name,
        policies={name: planned.policy for name, planned in plan.policies.items()},
        # absolute, not resolved: a file the query service received is /proc/self/fd/N,
        # which opens while its target's name (`/memfd:… (deleted)`) does not
        aliases_path=str(plan.aliases_path.absolute()) if plan.aliases_path else None,
        today=expire.run_date().isoformat(),
        timezone=plan.timezone,
        file_formats=plan.file_formats,
        format_order=plan.format_order,
        key_id=current_period(plan.layout).id,
        reference_time=plan.reference_time,
    )


class _Watcher(threading.Thread):
    def __init__(self, reports_dir, progress: ProgressFn) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.reports_dir = reports_dir
        self.progress = progress
        self.done = threading.Event()
        self.seen: dict[str, int] = {}

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.poll()

    def poll(self) -> None:
        if not self.reports_dir.is_dir():
            return
        for path in self.reports_dir.glob("*.json"):
            if path.name not in self.seen:
                try:
                    self.seen[path.name] = json.loads(path.read_text())["read"]
                except (OSError, ValueError, KeyError):
                    continue
        self.progress(sum(self.seen.values()))

    def stop(self) -> None:
        self.done.set()
        self.poll()
