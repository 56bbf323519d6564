"""The `loggvern` command: a thin front door over store/, pipelines/ and queries/.

Exit codes: 0 done; 1 the work failed; 2 refused before any work (bad arguments, bad
configuration, unlawful purpose, unreadable input, a role the caller does not hold).

With `--socket PATH` (or LOGGVERN_SOCKET) a command goes to the query service, which
runs it as the OS user the kernel names; without one it runs here on the store, which
only the store's owner may do.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from rich.console import Console

from loggvern.cli_breakglass import add_breakglass
from loggvern.cli_custodians import add_custodians
from loggvern.cli_retention import add_retention
from loggvern.cli_serve import add_serve

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2
err = Console(stderr=True, highlight=False, soft_wrap=True)


@cache
def _parser() -> argparse.ArgumentParser:
    """Built once per process (building it costs ~18 ms, mostly gettext look-ups; the
    query service parses every call). Parsing leaves the parser unchanged."""
    p = argparse.ArgumentParser(prog="loggvern", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", help="create a store")
    s.add_argument("store", type=Path)
    s.add_argument("--custodians", metavar="A,B,C", help="who holds vault key shares")
    s.add_argument("--threshold", type=int, metavar="M", help="shares needed to open the vault")
    s.add_argument(
        "--key-period-days",
        type=int,
        default=365,
        metavar="DAYS",
        help="how long one pseudonym key is used before rotating (default 365)",
    )
    s.add_argument(
        "--deadletter-retention-days",
        type=int,
        default=30,
        metavar="DAYS",
        help="how long dead letters are kept (default 30)",
    )
    _actor(s)

    s = sub.add_parser("ingest", help="ingest log files into a store")
    s.add_argument("store", type=Path)
    s.add_argument(
        "--source", required=True, metavar="FORMAT", help="a format (see docs/formats.md) or auto"
    )
    s.add_argument("paths", nargs="*", metavar="PATH", help="files to ingest once")
    s.add_argument(
        "--follow",
        action="append",
        metavar="PATH_OR_GLOB",
        help="keep ingesting what is appended, across rotations (repeatable)",
    )
    s.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="follow mode: seconds between polls (default 2)",
    )
    s.add_argument("--policy", type=Path, help="policy TOML (default: policies/<FORMAT>.toml)")
    s.add_argument("--aliases", type=Path, help="alias directory CSV (employee_id,identifier)")
    s.add_argument("--timezone", default="UTC", help="zone of timestamps without an offset")
    s.add_argument(
        "--runner",
        help="Beam runner, e.g. PortableRunner, FlinkRunner, DataflowRunner (default: the "
        "local FnApiRunner; see docs/scale.md)",
    )
    s.add_argument(
        "--runner-option",
        action="append",
        default=[],
        dest="runner_options",
        metavar="KEY=VALUE",
        help="a Beam pipeline option passed as --KEY=VALUE (repeatable), e.g. "
        "job_endpoint=localhost:8099",
    )
    s.add_argument(
        "--workers",
        type=_at_least_one,
        default=1,
        metavar="N",
        help="local worker processes (default 1: this process, with 2 threads; N > 1 starts "
        "N Beam SDK worker processes on this machine)",
    )
    _actor(s)

    s = sub.add_parser("query", help="run SQL or a named query under a lawful purpose")
    # One list, split in main() (see there).
    s.add_argument("operands", nargs="*", metavar="STORE [SQL]", help="store, then one SELECT")
    s.add_argument("--purpose", help="network_administration or security_incident")
    s.add_argument("--case", help="open case id (required for security_incident)")
    s.add_argument("--named", metavar="NAME", help="run a named query (see --list)")
    s.add_argument("--param", action="append", metavar="K=V", help="named query parameter")
    s.add_argument("--list", action="store_true", help="list the named queries")
    s.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _actor(s)

    s = sub.add_parser("stats", help="k-anonymous statistics without a purpose")
    s.add_argument("store", type=Path, nargs="?")
    s.add_argument("--named", metavar="NAME", help="statistics query (see --list)")
    s.add_argument("--param", action="append", metavar="K=V")
    s.add_argument("--list", action="store_true")
    s.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _actor(s)

    s = sub.add_parser("case", help="open, close and list incident cases")
    cases = s.add_subparsers(dest="action", required=True)
    c = cases.add_parser("open", help="open a case with a justification and time window")
    c.add_argument("store", type=Path)
    c.add_argument("--title", required=True)
    c.add_argument("--justification", required=True)
    c.add_argument("--from", dest="window_from", metavar="T", help="window start (ISO; UTC)")
    c.add_argument("--to", dest="window_to", metavar="T", help="window end (default: at close)")
    _actor(c)
    c = cases.add_parser("close", help="close a case")
    c.add_argument("store", type=Path)
    c.add_argument("case_id", metavar="ID")
    c.add_argument("--reason", help="why it is closed")
    _actor(c)
    c = cases.add_parser("list", help="list cases")
    c.add_argument("store", type=Path)

    s = sub.add_parser("audit", help="verify the ledger, print its head, write the report")
    audit = s.add_subparsers(dest="action", required=True)
    a = audit.add_parser("verify", help="recompute the chain and check the signed heads")
    a.add_argument("store", type=Path)
    a.add_argument("--key", metavar="FINGERPRINT", help="pinned signing key (printed at init)")
    a.add_argument("--against", type=Path, metavar="HEAD_FILE", help="a head kept earlier")
    a.add_argument("--json", action="store_true", help="also print the result as JSON")
    a = audit.add_parser("head", help="print the latest signed checkpoint (keep it safe)")
    a.add_argument("store", type=Path)
    a = audit.add_parser("report", help="write report.html and report.json")
    a.add_argument("store", type=Path)
    a.add_argument("--out", type=Path, required=True, metavar="DIR")
    a.add_argument("--aliases", type=Path, action="append", help="alias CSV for the leak scan")
    _actor(a)

    add_retention(sub, _actor)

    s = sub.add_parser("deadletter", help="inspect rejected lines (operator)")
    dl = s.add_subparsers(dest="action", required=True)
    show = dl.add_parser("show", help="decrypt and print dead letters")
    show.add_argument("store", type=Path)
    show.add_argument("--run", help="only this ingest run")
    show.add_argument("--limit", type=int, default=100)
    _actor(show)
    replay = dl.add_parser("replay", help="parse a run's dead letters again (after a fix)")
    replay.add_argument("store", type=Path)
    replay.add_argument("run", metavar="RUN", help="the ingest run whose dead letters to replay")
    replay.add_argument("--source", metavar="FORMAT", help="default: the run's own format")
    replay.add_argument("--timezone", default="UTC", help="zone of timestamps without an offset")
    _actor(replay)

    s = sub.add_parser("keys", help="pseudonym key periods (operator)")
    keys = s.add_subparsers(dest="action", required=True)
    k = keys.add_parser("rotate", help="start a new pseudonym key period (prints its id)")
    k.add_argument("store", type=Path)
    k.add_argument("--reason", metavar="TEXT", help="why (ledgered)")
    _actor(k)

    add_breakglass(sub, _actor)
    add_custodians(sub, _actor)

    s = sub.add_parser("subject-access", help="what is held about one person (GDPR art. 15)")
    s.add_argument("store", type=Path)
    s.add_argument("--identity", required=True, help="the person's user name, e-mail or id")
    s.add_argument("--case", required=True, help="the open case the request is handled in")
    s.add_argument("--aliases", type=Path, help="alias directory CSV (employee_id,identifier)")
    s.add_argument("--out", type=Path, required=True, metavar="DIR", help="outside the store")
    _actor(s)

    add_serve(sub)

    s = sub.add_parser("demo", help="synthetic municipality → ingest → queries")
    s.add_argument("store", type=Path, nargs="?", default=Path("demo-store"))
    s.add_argument("--fresh", action="store_true", help="remove STORE first if it is a store")
    s.add_argument("--employees", type=int, default=300)
    return p


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as", dest="actor", metavar="NAME", help="who acts (default: $LOGGVERN_ACTOR or OS user)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    from loggvern.socket_option import split_socket

    argv = list(sys.argv[1:] if argv is None else argv)
    socket_path, argv, explicit = split_socket(argv)
    args = parse_args(argv)
    if socket_path and (explicit or not runs_locally(args)):
        from service.client import call

        return call(socket_path, argv, args)
    from loggvern.direct_mode import direct_refusal

    refusal = direct_refusal(args)
    if refusal:
        err.print(f"loggvern: {refusal}", markup=False)
        return EXIT_REFUSED
    return run(args)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The CLI's arguments (argparse errors exit 2, as `parser.error` does)."""
    parser = _parser()
    args, extra = parser.parse_known_args(list(argv))
    # argparse cannot place optional positionals around options (`query STORE --purpose P
    # "SQL"`, `ingest STORE --source F PATH…`): what it leaves over is theirs.
    if extra and (args.command not in ("query", "ingest") or any(e.startswith("-") for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "ingest":
        args.paths += extra
    if args.command == "query":
        args.operands += extra
        if len(args.operands) > 2:
            parser.error("query takes STORE and at most one SQL statement (quote it)")
        args.store = Path(args.operands[0]) if args.operands else None
        args.sql = args.operands[1] if len(args.operands) > 1 else None
    return args


def runs_locally(args: argparse.Namespace) -> bool:
    """Commands that never go to a service, even with LOGGVERN_SOCKET set."""
    action = getattr(args, "action", None)
    return args.command in ("init", "demo", "serve") or (args.command, action) == (
        "breakglass",
        "open",
    )


def run(args: argparse.Namespace) -> int:
    """Run one parsed command: its handler, a ledgered refusal if it was refused, and
    the signed checkpoint after it (the same for direct mode and the service)."""
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    from loggvern import (
        commands,
        commands_audit,
        commands_breakglass,
        commands_custodians,
        commands_keys,
        commands_retention,
        commands_serve,
        commands_subject,
        ledgering,  # heavy imports after parsing
    )

    name = f"cmd_{args.command.replace('-', '_')}"
    modules = (
        commands, commands_audit, commands_breakglass, commands_custodians, commands_keys,
        commands_retention, commands_serve, commands_subject,
    )  # fmt: skip
    handler = next(getattr(m, name) for m in modules if hasattr(m, name))
    try:
        code = int(handler(args) or EXIT_OK)
    except commands.REFUSALS as exc:
        err.print(f"loggvern: {exc}", markup=False)
        ledgering.record_refusal(args, exc)
        code = EXIT_REFUSED
    except commands.FAILURES as exc:
        err.print(f"loggvern: {exc}", markup=False)
        code = EXIT_FAILED
    except KeyboardInterrupt:
        err.print("loggvern: interrupted; a run is committed and ledgered whole, or left nothing")
        code = 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: never echo data
        err.print(f"loggvern: internal error ({type(exc).__name__}): {redact(str(exc))}")
        code = EXIT_FAILED
    if not ledgering.checkpoint(args):
        code = code or EXIT_FAILED
    return code


def redact(message: str) -> str:
    """Library errors (pyarrow, duckdb, Beam) quote the values they choke on; a value may
    be a user name or a password typed into a user field, so quoted parts are removed."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", first)[:300]


if __name__ == "__main__":
    sys.exit(main())
