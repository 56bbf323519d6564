"""Named crash points for the crash-safety tests: when `LOGGVERN_FAILPOINT` names one,
the process kills itself with SIGKILL right there (no cleanup, no `finally`), exactly
as an OOM kill or a power cut would stop it. Unset, a failpoint is one dict lookup.

The names are listed here so a test can pick among all of them.
"""

from __future__ import annotations

import os
import signal

ENV = "LOGGVERN_FAILPOINT"
FAILPOINTS = (
    "ingest.after_intent",  # the intent is ledgered, nothing staged yet
    "sink.after_parquet",  # a batch's first Parquet file is staged, the rest not
    "commit.before_journal",  # everything staged, the commit record not yet written
    "commit.after_journal",  # the commit record is durable, nothing moved yet
    "commit.mid_moves",  # some staged files are in the lake, others not
    "commit.after_manifest",  # files and manifest in place, run summary not yet
    "ingest.before_result",  # committed, the ledger's result entry not yet written
    "ingest.after_result",  # result ledgered, staging not yet removed
    "follow.between_batches",  # follow mode: one micro-batch committed, the next not begun
)


def failpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
