"""The file arguments of each served command: which the command reads (the caller
sends their contents) and which it writes (the service returns their contents).

The service never opens a path a caller names: what it reads is what the caller could
open and sent, what it writes goes to its own private directory and back to the caller,
who writes it with their own rights. A served command with a path argument missing
here is refused (`unconfined_paths`), so a new option cannot slip through.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Kind(StrEnum):
    read = "read"  # an input file: its bytes travel to the service
    write_dir = "write_dir"  # `--out DIR`: the files written in it travel back
    write_file = "write_file"  # `--out FILE`: that file travels back (never over one)


@dataclass(frozen=True)
class FileArg:
    dest: str  # the argparse destination
    kind: Kind

    @property
    def option(self) -> str:
        return "PATH" if self.dest == "paths" else "--" + self.dest.replace("_", "-")


READ = Kind.read
FILE_ARGS: dict[str, tuple[FileArg, ...]] = {
    "ingest": (FileArg("paths", READ), FileArg("policy", READ), FileArg("aliases", READ)),
    "audit verify": (FileArg("against", READ),),
    "audit report": (FileArg("out", Kind.write_dir), FileArg("aliases", READ)),
    "breakglass approve": (FileArg("share", READ),),
    "breakglass reveal": (FileArg("share", READ), FileArg("aliases", READ)),
    "breakglass bundle": (FileArg("out", Kind.write_file),),
    "breakglass record": (FileArg("revealed", READ),),
    "subject-access": (FileArg("aliases", READ), FileArg("out", Kind.write_dir)),
    "custodians reshare": (FileArg("share", READ),),
}


def file_args(key: str) -> tuple[FileArg, ...]:
    return FILE_ARGS.get(key, ())


def values(args: argparse.Namespace, dest: str) -> list[str]:
    """An argument's paths as a list (absent: empty; one: one)."""
    value = getattr(args, dest, None)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items]


def replace_values(args: argparse.Namespace, dest: str, new: list[str]) -> None:
    """Put the service's own paths where the caller's were, keeping the argument's shape."""
    old = getattr(args, dest)
    typed = [Path(n) if isinstance(o, Path) else n for o, n in zip(_listed(old), new, strict=True)]
    setattr(args, dest, typed if isinstance(old, list) else typed[0])


def unconfined_paths(key: str, args: argparse.Namespace) -> list[str]:
    """Path arguments the table does not cover (the store is checked on its own)."""
    covered = {f.dest for f in file_args(key)} | {"store"}
    found = []
    for dest, value in vars(args).items():
        if dest in covered:
            continue
        if isinstance(value, Path) or (
            isinstance(value, list) and any(isinstance(v, Path) for v in value)
        ):
            found.append("--" + dest.replace("_", "-"))
    return found


def _listed(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]
