"""The arguments of `loggvern serve` (kept apart so cli.py stays readable)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_serve(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "serve",
        help="the query service: callers known by the kernel, roles by their OS groups",
    )
    s.add_argument("store", type=Path)
    s.add_argument("--socket", required=True, type=Path, metavar="PATH", help="where to listen")
    s.add_argument(
        "--roles", type=Path, metavar="FILE", help="group → role map (default: policies/roles.toml)"
    )
    s.add_argument("--socket-group", metavar="GROUP", help="group that may connect (0660)")
    s.add_argument("--max-clients", type=int, default=8, help="calls served at once (8)")
    s.add_argument(
        "--max-input-mib", type=int, default=64, help="input files one call may send (64 MiB)"
    )
    s.add_argument("--io-timeout", type=float, default=30.0, help="seconds a caller may stall (30)")
