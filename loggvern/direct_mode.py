"""Direct mode (no query service) is the store owner's alone.

Everyone else reaches the store through `loggvern serve`'s socket, where the kernel
says who they are. A store readable by others would already be a failure of the
deployment; this check makes the rule explicit and the refusal clear, even for root.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from store.actor import os_user_name

_CREATES_STORE = ("init", "demo")


def direct_refusal(args: argparse.Namespace) -> str | None:
    """Why this command may not run directly on its store, or None."""
    store = getattr(args, "store", None)
    if store is None or args.command in _CREATES_STORE:
        return None
    owner = _owner(Path(store))
    if owner is None or owner == os.geteuid():
        return None
    command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
    who = os_user_name(os.geteuid())
    owner_name = "someone else" if owner < 0 else os_user_name(owner)
    return (
        f"refused: {who} may not run `{command}` directly on {store}: direct mode is only "
        f"for the store's owner ({owner_name}); use the query service: --socket PATH "
        "(or LOGGVERN_SOCKET). Nothing was recorded."
    )


def _owner(store: Path) -> int | None:
    """The store's owner uid; -1 if it cannot be looked at; None if it does not exist."""
    try:
        return store.stat().st_uid
    except FileNotFoundError:
        return None
    except PermissionError:
        return -1
