"""Run a batch of CLI calls in one process, as whichever OS user runs this script (the
role tests start it with `runuser -u USER`), so that dozens of calls cost one start-up.

stdin: a JSON list of calls, each `{"argv": [...]}` (the CLI's own `main`) or
`{"raw": [...]}` (a protocol request straight to the socket, for commands this CLI's
parser does not know). stdout: a JSON list of `[exit code, stdout, stderr]`.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import time
from contextlib import redirect_stderr, redirect_stdout


def _raw(argv: list[str]) -> list[object]:
    from service.protocol import Request, receive, send

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(os.environ["LOGGVERN_SOCKET"])
        send(conn, Request(argv=argv, cwd=os.getcwd()))
        answer = receive(conn, 1 << 30, time.monotonic() + 120)
    return [answer.exit_code, answer.stdout, answer.stderr]  # type: ignore[union-attr]


def _cli(argv: list[str]) -> list[object]:
    from loggvern.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return [code, out.getvalue(), err.getvalue()]


def main() -> None:
    calls = json.load(sys.stdin)
    results = [_raw(c["raw"]) if "raw" in c else _cli(c["argv"]) for c in calls]
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
