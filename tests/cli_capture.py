"""Running the CLI's `main` in this process with its output captured."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

from loggvern.cli import main


def run_main(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `loggvern ARGV…`."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(list(argv))
    return code, stdout.getvalue(), stderr.getvalue()
