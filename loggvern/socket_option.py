"""`--socket PATH` (or LOGGVERN_SOCKET): send the command to the query service.

The option may stand anywhere on the command line, so it is taken out before the
command's own parser sees the rest (`serve` keeps its own `--socket`: where it listens).
"""

from __future__ import annotations

import os
import sys

ENV = "LOGGVERN_SOCKET"


def split_socket(argv: list[str]) -> tuple[str | None, list[str], bool]:
    """(socket path or None, the argv without the option, whether it was given here)."""
    if argv[:1] == ["serve"]:
        return None, argv, False
    rest: list[str] = []
    path: str | None = None
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            rest += argv[i:]
            break
        if word == "--socket":
            if i + 1 >= len(argv) or not argv[i + 1]:
                sys.stderr.write("loggvern: --socket needs a PATH\n")
                raise SystemExit(2)
            path = argv[i + 1]
            i += 2
            continue
        if word.startswith("--socket="):
            path = word.split("=", 1)[1] or None
            i += 1
            continue
        rest.append(word)
        i += 1
    if path:
        return path, rest, True
    return os.environ.get(ENV) or None, rest, False
