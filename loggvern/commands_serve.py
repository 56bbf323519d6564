"""What `loggvern serve` does: check the store, the roles file and the socket before
listening, ledger the start (with the group → role map in force) and the stop."""

from __future__ import annotations

import argparse
import grp
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

from loggvern.output import err
from pipelines.plan import ConfigError
from service import capture
from service.role_policy import RolePolicy, RolesFileError, load_roles
from service.server import Service, ServiceConfig, ledger_service
from store.layout import StoreError, StoreLayout
from store.ledger_entry import EntryKind

SOCKET_MODE = 0o660


def cmd_serve(args: argparse.Namespace) -> int:
    layout = StoreLayout(args.store).require()
    _check_private(layout.root)
    try:
        roles = load_roles(args.roles)
    except RolesFileError as exc:
        raise ConfigError(str(exc)) from None
    gid = _group(args.socket_group)
    config = ServiceConfig(
        layout,
        roles,
        Path(),
        max(1, args.max_clients),
        max(0, args.max_input_mib) << 20,
        args.io_timeout if args.io_timeout > 0 else 30.0,
    )
    os.umask(0o077)
    listener = _listen(args.socket, gid)
    config.spool = _spool()
    calls = 0
    try:
        for name in roles.missing_groups():
            err.print(
                f"loggvern: warning: roles file names group {name}, which does not "
                "exist: nobody holds its roles",
                markup=False,
            )
        ledger_service(layout, EntryKind.SERVICE_STARTED, _started(args.socket, roles, config))
        err.print(
            f"loggvern: serving {layout.root} on {args.socket} (roles: {roles.path}); "
            "stop with SIGTERM",
            markup=False,
        )
        capture.install()
        calls = Service(config, listener).run()
    finally:
        listener.close()
        _unlink(args.socket)
        shutil.rmtree(config.spool, ignore_errors=True)
        ledger_service(
            layout, EntryKind.SERVICE_STOPPED, {"socket": str(args.socket), "calls": calls}
        )
    return 0


def _check_private(root: Path) -> None:
    mode = stat.S_IMODE(root.stat().st_mode)
    if mode & 0o077:
        raise StoreError(
            f"{root}: is open to others (mode {mode:04o}); the store must be its "
            f"owner's alone: chmod 700 {root}"
        )


def _group(name: str | None) -> int | None:
    if name is None:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(f"--socket-group {name}: no such group") from None


def _listen(path: Path, gid: int | None) -> socket.socket:
    """Bind the socket (refusing a live one, replacing a stale one), 0660, its group."""
    if not path.parent.is_dir():
        raise ConfigError(f"{path.parent}: no such directory for the socket")
    if path.is_symlink() or path.exists():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ConfigError(f"{path}: exists and is not a socket; not replacing it")
        if _live(path):
            raise ConfigError(f"{path}: another service is listening there")
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        os.chmod(path, SOCKET_MODE)
        if gid is not None:
            os.chown(path, -1, gid)
        listener.listen(64)
    except OSError as exc:
        listener.close()
        _unlink(path)
        raise ConfigError(f"{path}: cannot listen ({exc.strerror})") from None
    return listener


def _live(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _spool() -> Path:
    """A private directory for the files calls write (memory-backed where possible)."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
    return Path(os.path.realpath(tempfile.mkdtemp(prefix="loggvern-serve-", dir=base)))


def _unlink(path: Path) -> None:
    try:
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
    except OSError:
        pass


def _started(path: Path, roles: RolePolicy, config: ServiceConfig) -> dict[str, object]:
    return {
        "socket": str(path),
        "pid": os.getpid(),
        "roles": {"path": roles.path, "sha256": roles.sha256, "groups": roles.describe()},
        "max_clients": config.max_clients,
        "max_input_bytes": config.max_input_bytes,
    }
