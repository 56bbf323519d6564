"""What each `loggvern` subcommand does, given its parsed arguments."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from loggvern.output import err, out, render
from pipelines.commit import RunSummary
from pipelines.plan import ConfigError, IngestPlan, InputError, plan_ingest, runner_args
from queries.breakglass.request import BreakGlassError
from queries.named import NamedQueryError, load_named, named_queries
from queries.session import QueryError, QueryRefused, QuerySession
from queries.subject_access import SubjectAccessError
from schemas.policy import PolicyError, default_policies
from schemas.purposes import UnlawfulPurposeError
from store import deadletter
from store.actor import default_actor
from store.cases import CaseError
from store.custodians import CustodianError, parse_custodians
from store.deadletter import DeadLetterError
from store.init import init_store, signing_fingerprint
from store.keys import KeyFileError, load_keys
from store.layout import MARKER, StoreError, StoreLayout
from store.ledger import Ledger, LedgerError
from store.ledger_entry import EntryKind
from store.policy_registry import register_policy
from store.settings import StoreSettings
from transforms.auto_detect import AUTO
from transforms.identity import AliasError
from transforms.parse.registry import UnknownFormatError
from transforms.sink import AccountingError

REFUSALS = (
    StoreError, PolicyError, UnknownFormatError, InputError, AliasError, KeyFileError,
    UnlawfulPurposeError, ConfigError, QueryRefused, CaseError, NamedQueryError,
    CustodianError, BreakGlassError, SubjectAccessError,
)  # fmt: skip
FAILURES = (QueryError, AccountingError, DeadLetterError, LedgerError, OSError)

PROGRESS_MIN_LINES = 200_000


def actor_of(args: argparse.Namespace) -> str:
    return getattr(args, "actor", None) or default_actor()


def cmd_init(args: argparse.Namespace) -> int:
    names, threshold, defaulted = parse_custodians(args.custodians, args.threshold)
    try:
        settings = StoreSettings(
            key_period_days=args.key_period_days,
            deadletter_retention_days=args.deadletter_retention_days,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        option = "--" + str(error["loc"][0]).replace("_", "-")
        raise ConfigError(f"{option}: {error['msg'].lower()}") from None
    layout = init_store(args.store, default_policies(), actor_of(args), names, threshold, settings)
    out.print(f"initialised store {layout.root} (keys in {layout.keys}, owner-only)")
    out.print(f"ledger signing key: {signing_fingerprint(layout)}")
    out.print("  auditors: pin it with `loggvern audit verify STORE --key FINGERPRINT`")
    out.print(
        f"identity vault: {threshold} of {len(names)} custodians open it ({', '.join(names)})"
    )
    if defaulted:
        err.print(
            "loggvern: warning: no --custodians given; one custodian 'dpo' alone can "
            "re-identify. Name several custodians and a threshold for a real store."
        )
    shares = layout.root / "custodians"
    err.print(
        f"loggvern: warning: the custodians' shares are in {shares}/. Hand each file to "
        "its custodian, then delete them from the store: shares left here defeat the quorum."
    )
    return 0


def _import_run_ingest() -> Callable[..., RunSummary]:
    """Beam is imported only by commands that run it; its import warns about optional
    cloud clients through the root logger, which is silenced meanwhile."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        from pipelines.run import run_ingest
    finally:
        root.setLevel(level)
    return run_ingest


def ingest(
    store: Path,
    source: str,
    paths: Sequence[str | Path],
    policy: Path | None = None,
    aliases: Path | None = None,
    timezone: str = "UTC",
    runner: str | None = None,
    workers: int = 1,
    actor: str | None = None,
    runner_options: Sequence[str] = (),
) -> RunSummary:
    """Plan (refusing bad input before any work), ledger the intent, run and commit one
    ingest, ledger its result."""
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers}")
    args = runner_args(runner_options)
    run_ingest = _import_run_ingest()
    plan = plan_ingest(store, source, [str(p) for p in paths], policy, aliases, timezone)
    ledger = Ledger(plan.layout, actor or default_actor())
    policies = {
        name: {"id": p.policy.id, "version": p.policy.version,
               "sha256": register_policy(plan.layout, ledger, p.path, p.policy)}
        for name, p in plan.policies.items()
    }  # fmt: skip
    with ledger.action(EntryKind.INGEST_INTENT, EntryKind.INGEST_RESULT,
                       _ingest_intent(plan, policies)) as outcome:  # fmt: skip
        summary = _run_planned(run_ingest, plan, source, runner, workers, args)
        outcome.fields.update(
            read=summary.read, written=summary.written, rejected=summary.rejected,
            lake_files=summary.lake_files, dropped=summary.dropped, reasons=summary.reasons,
            formats=summary.formats,
        )  # fmt: skip
    return summary


def _ingest_intent(plan: IngestPlan, policies: dict[str, dict[str, object]]) -> dict[str, object]:
    body: dict[str, object] = {
        "run_id": plan.run_id,
        "source": plan.format_name,
        "files": [{"path": f.path, "sha256": f.sha256, "bytes": f.bytes} for f in plan.files],
        "lines": plan.total_lines,
        "aliases": str(plan.aliases_path.resolve()) if plan.aliases_path else None,
        "timezone": plan.timezone,
    }
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


def _run_planned(
    run_ingest: Callable[..., RunSummary],
    plan: IngestPlan,
    source: str,
    runner: str | None,
    workers: int,
    runner_args: list[str],
) -> RunSummary:
    if sys.stderr.isatty() and plan.total_lines >= PROGRESS_MIN_LINES:
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task(f"ingest {source}", total=plan.total_lines)
            return run_ingest(
                plan, runner, workers, runner_args, lambda n: bar.update(task, completed=n)
            )
    return run_ingest(plan, runner, workers, runner_args)


def cmd_ingest(args: argparse.Namespace) -> int:
    summary = ingest(
        args.store, args.source, args.paths, args.policy, args.aliases, args.timezone,
        args.runner, args.workers, actor_of(args), args.runner_options,
    )  # fmt: skip
    if summary.dropped:
        fields = ", ".join(f"{k}={v}" for k, v in sorted(summary.dropped.items()))
        err.print(f"fields dropped by policy {summary.policy_id}: {fields}", markup=False)
    if summary.source_format == AUTO:
        found = ", ".join(
            f"{n} {f}" for f, n in sorted(summary.formats.items(), key=lambda x: -x[1])
        )
        err.print(f"detected: {found}", markup=False)
    if summary.rejected:
        why = ", ".join(f"{n} {r}" for r, n in sorted(summary.reasons.items(), key=lambda x: -x[1]))
        err.print(f"{summary.rejected} line(s) dead-lettered ({why})", markup=False)
        err.print(
            f"  see: loggvern deadletter show {args.store} --run {summary.run_id}", markup=False
        )
    out.print(f"read={summary.read} written={summary.written} rejected={summary.rejected}")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    if args.list:
        return _list_named()
    if args.store is None or args.purpose is None:
        raise NamedQueryError("query needs STORE and --purpose (or --list)")
    if (args.named is None) == (args.sql is None):
        raise NamedQueryError("give either SQL or --named NAME")
    layout = StoreLayout(args.store)
    with QuerySession(layout, args.purpose, args.case, actor_of(args)) as session:
        if args.named:
            query = load_named(args.named)
            query.check_purpose(session.purpose)
            result = session.execute(query.sql, query.bind(args.param), named=query.name)
        else:
            result = session.execute(args.sql)
    render(result.table, args.format, out)
    return 0


def _list_named() -> int:
    from rich.table import Table

    table = Table(title="named queries", title_justify="left")
    table.add_column("name", no_wrap=True)  # whole, so `query --list | grep NAME` works
    for column in ("purpose", "description", "parameters"):
        table.add_column(column, overflow="fold")
    for query in named_queries().values():
        params = ", ".join(p.describe() for p in query.params)
        table.add_row(query.name, query.purpose, query.description, params)
    out.print(table)
    return 0


def cmd_deadletter(args: argparse.Namespace) -> int:
    """Dead letters hold raw lines (possibly identities): showing them is ledgered."""
    layout = StoreLayout(args.store).require()
    key = load_keys(layout.keys).deadletter
    root = layout.deadletter / args.run if args.run else layout.deadletter
    if args.run and not root.is_dir():
        raise StoreError(f"{args.store}: no dead letters for run {args.run!r}")
    body = {"run": args.run, "limit": args.limit}
    with Ledger(layout, actor_of(args)).action(
        EntryKind.DEADLETTER_INTENT, EntryKind.DEADLETTER_RESULT, body
    ) as outcome:
        shown = _show_deadletters(root, key, args.limit)
        outcome.fields["lines_shown"] = shown
    if shown == 0:
        out.print("no dead letters")
    return 0


def _show_deadletters(root: Path, key: bytes, limit: int) -> int:
    shown = 0
    for path, table in deadletter.read_all(root, key):
        run = path.parent.name
        for row in table.to_pylist():
            if shown >= limit:
                out.print(f"… (--limit {limit} reached)")
                return shown
            raw = row["raw"].decode("utf-8", errors="backslashreplace")
            out.print(f"{run} {row['file']}:{row['line']}: {row['reason']}", markup=False)
            out.print(f"    {raw[:2000]!r}", markup=False)
            shown += 1
    return shown


def cmd_demo(args: argparse.Namespace) -> int:
    from loggvern.demo import run_demo

    if args.fresh and args.store.exists():
        if not (args.store / MARKER).is_file():
            raise StoreError(f"{args.store}: exists and is not a loggvern store; not removing it")
        shutil.rmtree(args.store)
    return run_demo(args.store, employees=args.employees, console=out)
