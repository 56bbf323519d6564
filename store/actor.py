"""Who is acting: `--as NAME`, else `LOGGVERN_ACTOR`, else the OS user (as the ledger
records it). Inside a query-service call, always the authenticated peer."""

from __future__ import annotations

import os

from store.caller import current_caller


def default_actor() -> str:
    caller = current_caller()
    if caller is not None:
        return caller.name
    return os.environ.get("LOGGVERN_ACTOR") or _os_user()


def _os_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "unknown")


def os_user_name(uid: int) -> str:
    """A uid's user name, or `uid N` if the passwd database has none."""
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"
