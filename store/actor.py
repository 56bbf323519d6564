"""Who is acting: `--as NAME`, else `LOGGVERN_ACTOR`, else the OS user (as the ledger
records it)."""

from __future__ import annotations

import os


def default_actor() -> str:
    return os.environ.get("LOGGVERN_ACTOR") or _os_user()


def _os_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "unknown")
