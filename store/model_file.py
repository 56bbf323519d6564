"""A pydantic model kept as one owner-only JSON file in the store (settings, the ingest
manifest): read with a clear refusal naming the file, replaced atomically and durably.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from store.layout import StoreError

M = TypeVar("M", bound=BaseModel)


def read_model(path: Path, model: type[M], what: str) -> M | None:
    """The model in `path`; None if the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read {what} ({exc.strerror})") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        first = str(exc).splitlines()[0]
        raise StoreError(f"{path}: invalid {what} ({first})") from None


def write_model(path: Path, value: BaseModel) -> None:
    """Atomic and fsynced: a reader (or a crash) sees the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value.model_dump_json(indent=1) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
