"""A small JSON file of records keyed by id (cases, break-glass requests): read whole,
changed under an exclusive lock, rewritten atomically. The ledger entry for a change is
written before the file, so the file is a convenience view the ledger can rebuild."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class RecordFileError(ValueError):
    """The records file exists but cannot be read."""


def read_records(path: Path, model: type[M]) -> dict[str, M]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RecordFileError(f"{path}: unreadable ({type(exc).__name__})") from None
    return {item["id"]: model.model_validate(item) for item in data}


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `<dir>/.<name>.lock` for the duration of a change."""
    fd = os.open(path.parent / f".{path.stem}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_records(path: Path, records: dict[str, M]) -> None:
    tmp = path.with_suffix(".json.tmp")
    payload = [r.model_dump(mode="json") for r in records.values()]
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
