"""The `loggvern` command: a thin front door over store/, pipelines/ and queries/.

Exit codes: 0 done; 1 the work failed; 2 refused before any work (bad arguments, bad
configuration, unlawful purpose, unreadable input).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loggvern", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", help="create a store")
    s.add_argument("store", type=Path)

    s = sub.add_parser("ingest", help="ingest log files into a store")
    s.add_argument("store", type=Path)
    s.add_argument("--source", required=True, metavar="FORMAT", help="iptables, sshd, o365-dlp")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("--policy", type=Path, help="policy TOML (default: policies/<FORMAT>.toml)")
    s.add_argument("--aliases", type=Path, help="alias directory CSV (employee_id,identifier)")
    s.add_argument("--timezone", default="UTC", help="zone of timestamps without an offset")
    s.add_argument("--runner", help="Beam runner (default: in-process FnApiRunner)")
    s.add_argument("--workers", type=int, default=2, help="local worker threads (default 2)")

    s = sub.add_parser("query", help="run SQL under a lawful purpose")
    s.add_argument("store", type=Path)
    s.add_argument("--purpose", required=True)
    s.add_argument("--case", help="case reference (security_incident)")
    s.add_argument("--as", dest="actor", help="actor name (default: $LOGGVERN_ACTOR or OS user)")
    s.add_argument("--format", choices=("table", "csv", "json"), default="table")
    s.add_argument("sql")

    s = sub.add_parser("deadletter", help="inspect rejected lines (operator)")
    dl = s.add_subparsers(dest="action", required=True)
    show = dl.add_parser("show", help="decrypt and print dead letters")
    show.add_argument("store", type=Path)
    show.add_argument("--run", help="only this ingest run")
    show.add_argument("--limit", type=int, default=100)

    s = sub.add_parser("demo", help="synthetic municipality → ingest → queries")
    s.add_argument("store", type=Path, nargs="?", default=Path("demo-store"))
    s.add_argument("--fresh", action="store_true", help="remove STORE first if it is a store")
    s.add_argument("--employees", type=int, default=300)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    args = _parser().parse_args(argv)
    from loggvern import commands  # heavy imports only after argument parsing

    handler = getattr(commands, f"cmd_{args.command}")
    try:
        return int(handler(args) or EXIT_OK)
    except commands.REFUSALS as exc:
        err.print(f"loggvern: {exc}", markup=False)
        return EXIT_REFUSED
    except commands.FAILURES as exc:
        err.print(f"loggvern: {exc}", markup=False)
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.print("loggvern: interrupted; nothing of the unfinished run was committed")
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: never echo data
        err.print(f"loggvern: internal error ({type(exc).__name__}): {redact(str(exc))}")
        return EXIT_FAILED


def redact(message: str) -> str:
    """Library errors (pyarrow, duckdb, Beam) quote the values they choke on; a value may
    be a user name or a password typed into a user field, so quoted parts are removed."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", first)[:300]


if __name__ == "__main__":
    sys.exit(main())
