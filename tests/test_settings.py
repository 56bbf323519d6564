"""Store settings: chosen at init, validated on load, refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loggvern.cli import main
from schemas.policy import default_policies
from store.init import init_store
from store.layout import StoreError, StoreLayout
from store.settings import StoreSettings, load_settings
from store.write_lock import StoreBusyError, store_writer


def test_init_writes_the_settings_and_ledgers_them(tmp_path: Path) -> None:
    layout = init_store(
        tmp_path / "s", default_policies(), settings=StoreSettings(key_period_days=90)
    )
    assert load_settings(layout) == StoreSettings(key_period_days=90, deadletter_retention_days=30)
    assert (layout.root / "settings.json").stat().st_mode & 0o077 == 0
    first = json.loads((layout.ledger / "ledger.jsonl").read_text().splitlines()[0])
    assert first["body"]["settings"] == {"key_period_days": 90, "deadletter_retention_days": 30}


def test_bad_settings_file_is_refused_with_its_path(tmp_path: Path) -> None:
    layout = init_store(tmp_path / "s", default_policies())
    (layout.root / "settings.json").write_text('{"key_period_days": 0}')
    with pytest.raises(StoreError, match="settings.json: invalid settings"):
        load_settings(layout)


def test_cli_refuses_a_bad_setting_before_creating_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s"
    assert main(["init", str(store), "--key-period-days", "0"]) == 2
    assert "--key-period-days" in capsys.readouterr().err
    assert not store.exists()


def test_a_second_writer_that_will_not_wait_is_refused(tmp_path: Path) -> None:
    layout = StoreLayout(tmp_path)
    busy = pytest.raises(StoreBusyError, match="another ingest")
    with store_writer(layout), busy, store_writer(layout, wait=False):
        pass
    with store_writer(layout, wait=False):  # released with the first
        pass
