"""Everything the service checks before a call does any work: the command is served,
the caller holds a role it needs, `--as` is absent, the store is the one served, every
path argument is confined, and the input files sent match the arguments.

A failed check is a `Refused` (exit 2) that names the user, their roles and the
command; the caller of `authorize` ledgers it under the refused user.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from service.files import FileArg, Kind, file_args, unconfined_paths, values
from service.peer import Peer
from service.protocol import Request
from service.role_policy import Member, RolePolicy
from service.roles import NEVER_SERVED, command_key, key_from_argv, roles_for


class Refused(Exception):
    def __init__(self, route: str, message: str, command: str = "-") -> None:
        super().__init__(message)
        self.route = route
        self.command = command


class ParseFailed(Exception):
    """argparse said no, or printed help (its text is already on the call's output)."""

    def __init__(self, code: int, command: str) -> None:
        super().__init__(code)
        self.code = code
        self.command = command


@dataclass(frozen=True)
class Authorized:
    key: str
    args: argparse.Namespace
    member: Member
    reads: list[tuple[FileArg, int, str]]  # (argument, index, the caller's path)


def authorize(request: Request, peer: Peer, roles: RolePolicy, store: Path) -> Authorized:
    member = roles.member(peer.name)
    who = describe(member)
    key = key_from_argv(request.argv)
    if key is None:
        shown = " ".join(request.argv[:2])[:80] or "(nothing)"
        command = (request.argv[:1] or ["-"])[0][:40]
        raise Refused(
            "not_served", f"refused: {who}: `{shown}` is not a command the service serves", command
        )
    if key in NEVER_SERVED:
        raise Refused(
            "not_served",
            f"refused: {who} may not run `{key}` over the socket: it is "
            f"never served; {_why_not(key)}",
            key,
        )
    needed = roles_for(key)
    if not member.roles & needed:
        need = " or ".join(sorted(needed))
        raise Refused("role", f"refused: {who} may not run `{key}`: it needs the {need} role", key)
    args = _parse(request.argv, key)
    if command_key(args) != key:
        raise Refused("not_served", f"refused: {who}: the arguments do not name `{key}` alone", key)
    if getattr(args, "actor", None):
        raise Refused(
            "actor_override",
            f"refused: {who}: --as is not allowed over the socket; "
            f"{peer.name} acts as {peer.name}, as the kernel says (`{key}`)",
            key,
        )
    if hasattr(args, "actor"):
        args.actor = peer.name  # e.g. `breakglass approve`: the approver is who the kernel says
    _confine_store(args, request.cwd, store, key, who)
    unconfined = unconfined_paths(key, args)
    if unconfined:
        raise Refused(
            "unconfined_path",
            f"refused: {who}: `{key}` {', '.join(unconfined)} names "
            "a path the service cannot confine; the store's owner runs it",
            key,
        )
    if key == "ingest":
        _confine_ingest(args, who)
    return Authorized(key, args, member, _reads(request, key, args, who))


def describe(member: Member) -> str:
    """`name (role, role)`: who a refusal is about, as the service sees them."""
    held = ", ".join(sorted(member.roles)) if member.roles else "no loggvern role"
    return f"{member.name} ({held})"


def _why_not(key: str) -> str:
    if key == "breakglass open":
        return "it runs on a custodian's machine, without --socket"
    return "the store's owner runs it directly"


def _parse(argv: list[str], key: str) -> argparse.Namespace:
    from loggvern.cli import parse_args

    try:
        return parse_args(argv)
    except SystemExit as exc:  # argparse printed its message (to the call's stderr)
        raise ParseFailed(exc.code if isinstance(exc.code, int) else 2, key) from None


def _confine_store(args: argparse.Namespace, cwd: str, store: Path, key: str, who: str) -> None:
    given = getattr(args, "store", None)
    if given is None:
        return
    named = os.path.normpath(os.path.join(cwd, str(given)))
    served = os.path.normpath(os.path.abspath(store))
    if named != served and os.path.realpath(named) != os.path.realpath(served):
        raise Refused(
            "wrong_store",
            f"refused: {who}: this service serves {served}, not {named} (`{key}`)",
            key,
        )
    args.store = Path(served)


def _confine_ingest(args: argparse.Namespace, who: str) -> None:
    if args.runner:
        why = "a runner may start processes or reach the network; the store's owner runs it"
        raise Refused(
            "unconfined_runner",
            f"refused: {who}: `ingest` --runner is not served ({why})",
            "ingest",
        )
    if args.follow:
        why = "follow mode runs for months as the service account (docs/deploy/)"
        raise Refused(
            "unconfined_follow",
            f"refused: {who}: `ingest --follow` is not served ({why})",
            "ingest",
        )
    # In the service's own process: the files it received exist only as its memfds, which
    # `--workers N` worker processes could not open. Bulk ingest runs as the service
    # account outside the service (docs/deploy/).
    args.workers = 1


def _reads(
    request: Request, key: str, args: argparse.Namespace, who: str
) -> list[tuple[FileArg, int, str]]:
    wanted = [
        (arg, i, path)
        for arg in file_args(key)
        if arg.kind is Kind.read
        for i, path in enumerate(values(args, arg.dest))
    ]
    sent = sorted((f.dest, f.index) for f in request.inputs)
    if sent != sorted((arg.dest, i) for arg, i, _ in wanted):
        mismatch = f"refused: {who}: the files sent do not match `{key}`'s file arguments"
        raise Refused("bad_inputs", mismatch, key)
    return wanted
