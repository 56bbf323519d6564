"""What each `loggvern` subcommand does, given its parsed arguments."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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
from store.holds import HoldError
from store.init import init_store, signing_fingerprint
from store.keys import KeyFileError, load_keys
from store.layout import MARKER, StoreError, StoreLayout
from store.ledger import Ledger, LedgerError
from store.ledger_entry import EntryKind
from store.settings import StoreSettings
from transforms.auto_detect import AUTO
from transforms.expire import EXPIRED_REASON
from transforms.identity import AliasError
from transforms.parse.registry import UnknownFormatError
from transforms.sink import AccountingError

REFUSALS = (
    StoreError, PolicyError, UnknownFormatError, InputError, AliasError, KeyFileError,
    UnlawfulPurposeError, ConfigError, QueryRefused, CaseError, NamedQueryError,
    CustodianError, BreakGlassError, SubjectAccessError, HoldError,
)  # fmt: skip
FAILURES = (QueryError, AccountingError, DeadLetterError, LedgerError, OSError)

if TYPE_CHECKING:  # Beam is imported only by the commands that run it
    from pipelines.ledgered import RunOutcome
    from pipelines.run import ProgressFn

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


def import_pipelines() -> None:
    """Beam is imported only by commands that run it; its import warns about optional
    cloud clients through the root logger, which is silenced meanwhile."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        import pipelines.run  # noqa: F401
    finally:
        root.setLevel(level)


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
    ingest, ledger its result. Inputs already ingested are skipped and listed."""
    return ingest_run(store, source, paths, policy, aliases, timezone, runner, workers,
                      actor, runner_options).summary  # fmt: skip


def ingest_run(
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
) -> RunOutcome:
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers}")
    options = runner_args(runner_options)
    import_pipelines()
    from pipelines.ledgered import ledgered_ingest

    layout = StoreLayout(store).require()
    ledger = Ledger(layout, actor or default_actor())

    def planner() -> IngestPlan:
        return plan_ingest(store, source, [str(p) for p in paths], policy, aliases, timezone)

    result = ledgered_ingest(layout, ledger, planner, runner, workers, options, _progress)
    assert result is not None  # a batch plan is never empty
    return result


def _progress(plan: IngestPlan, run: Callable[[ProgressFn | None], RunSummary]) -> RunSummary:
    if sys.stderr.isatty() and plan.total_lines >= PROGRESS_MIN_LINES:
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task(f"ingest {plan.format_name}", total=plan.total_lines)
            return run(lambda n: bar.update(task, completed=n))
    return run(None)


def cmd_ingest(args: argparse.Namespace) -> int:
    if args.follow:
        from loggvern.commands_follow import follow_command

        return follow_command(args)
    if not args.paths:
        raise InputError("give the files to ingest, or --follow PATH_OR_GLOB")
    result = ingest_run(
        args.store, args.source, args.paths, args.policy, args.aliases, args.timezone,
        args.runner, args.workers, actor_of(args), args.runner_options,
    )  # fmt: skip
    report_run(result, args.store)
    return 0


def report_run(result: RunOutcome, store: Path) -> None:
    summary = result.summary
    for found in result.recovered:
        what = "finished from its commit record" if found.committed else "rolled back"
        err.print(f"recovered run {found.run_id} left by a stopped writer: {what}", markup=False)
    for line in summary.skipped:
        err.print(f"skipped {line}", markup=False)
    if not result.ran:
        out.print("nothing new to ingest: every input is already in the store")
        return
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
        err.print(f"  see: loggvern deadletter show {store} --run {summary.run_id}", markup=False)
    out.print(f"read={summary.read} written={summary.written} rejected={summary.rejected}")


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
    if args.action == "replay":
        from loggvern.commands_replay import replay_command

        return replay_command(args)
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
            out.print(f"{run} {row['file']}:{row['line']}: {row['reason']}", markup=False)
            if row["reason"] == EXPIRED_REASON:
                out.print("    (raw line withheld: it was past retention when it arrived)")
            else:
                raw = row["raw"].decode("utf-8", errors="backslashreplace")
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
