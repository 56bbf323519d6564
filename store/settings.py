"""Store-wide settings that no single policy owns: how long a pseudonym key period
lasts and how long dead letters are kept. Chosen at `init`, kept in
`STORE/settings.json`, validated on every load (a bad file is refused before any work).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from store.layout import StoreLayout
from store.model_file import read_model, write_model

SETTINGS_FILE = "settings.json"


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key_period_days: int = Field(default=365, ge=1, le=3650)
    deadletter_retention_days: int = Field(default=30, ge=1, le=3650)


def load_settings(layout: StoreLayout) -> StoreSettings:
    """The store's settings; the defaults when the file is absent (stores made before it)."""
    return read_model(layout.root / SETTINGS_FILE, StoreSettings, "settings") or StoreSettings()


def write_settings(layout: StoreLayout, settings: StoreSettings) -> None:
    write_model(layout.root / SETTINGS_FILE, settings)
