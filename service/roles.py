"""Which role may run which command: the single table the query service enforces.

A command is named as the CLI names it (`query`, `case open`, `breakglass approve`);
a command with sub-actions is keyed by `command action` (the subparser's `dest` must be
`action`). Anything not in `COMMAND_ROLES` is refused over the socket: a new command is
unreachable through the service until it is given roles here.
"""

from __future__ import annotations

import argparse
from enum import StrEnum


class Role(StrEnum):
    analyst = "analyst"
    custodian = "custodian"
    auditor = "auditor"
    operator = "operator"


AN, CU, AU, OP = Role.analyst, Role.custodian, Role.auditor, Role.operator

COMMAND_ROLES: dict[str, frozenset[Role]] = {
    key: frozenset(roles)
    for key, roles in {
        # analyst: cases, queries under a purpose, statistics, asking for break-glass
        "query": {AN},
        "stats": {AN, AU},  # k-anonymous: the auditor's only view of event rows
        "case open": {AN},
        "case close": {AN},
        "case list": {AN, AU},
        "breakglass request": {AN},
        "breakglass notified": {AN},
        "breakglass list": {AN, CU, AU},
        # custodian: approve and take part in reveals; never query
        "breakglass approve": {CU},
        "breakglass reveal": {CU},
        "breakglass bundle": {CU},
        "breakglass record": {CU},
        "custodians reshare": {CU},
        # auditor: the ledger and the report
        "audit verify": {AU},
        "audit head": {AU},
        "audit report": {AU},
        # operator: data in, data out by rule, keys
        "ingest": {OP},
        "deadletter show": {OP},
        "deadletter replay": {OP},
        "retention run": {OP},
        "hold add": {OP},
        "hold list": {OP},
        "hold release": {OP},
        "subject-access": {OP},
        "keys rotate": {OP},
    }.items()
}

# Served nowhere: they create or remove stores, start the service, or (open) never touch
# the store and run on a custodian's machine.
NEVER_SERVED = frozenset({"init", "demo", "serve", "breakglass open"})


def command_key(args: argparse.Namespace) -> str:
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if action else str(args.command)


def key_from_argv(argv: list[str]) -> str | None:
    """The command an argv names, from its leading words, before any parsing; None if
    it names none the table or `NEVER_SERVED` knows."""
    words = []
    for word in argv[:2]:
        if word.startswith("-"):
            break
        words.append(word)
    for n in (2, 1):
        key = " ".join(words[:n])
        if len(words) >= n and (key in COMMAND_ROLES or key in NEVER_SERVED):
            return key
    return None


def roles_for(key: str) -> frozenset[Role]:
    return COMMAND_ROLES.get(key, frozenset())


def commands_of(role: Role) -> list[str]:
    return sorted(key for key, roles in COMMAND_ROLES.items() if role in roles)
