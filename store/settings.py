"""Store-wide settings that no single policy owns: how long a pseudonym key period
lasts and how long dead letters are kept. Chosen at `init`, kept in
`STORE/settings.json`, validated on every load (a bad file is refused before any work).
"""

from __future__ import annotations

import json
import os

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from store.layout import StoreError, StoreLayout

SETTINGS_FILE = "settings.json"


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key_period_days: int = Field(default=365, ge=1, le=3650)
    deadletter_retention_days: int = Field(default=30, ge=1, le=3650)


def load_settings(layout: StoreLayout) -> StoreSettings:
    """The store's settings; the defaults when the file is absent (stores made before it)."""
    path = layout.root / SETTINGS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return StoreSettings()
    except OSError as exc:
        raise StoreError(f"{path}: cannot read settings ({exc.strerror})") from None
    try:
        return StoreSettings.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise StoreError(f"{path}: invalid settings ({first})") from None


def write_settings(layout: StoreLayout, settings: StoreSettings) -> None:
    path = layout.root / SETTINGS_FILE
    tmp = path.with_name(SETTINGS_FILE + ".tmp")
    tmp.write_text(settings.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
