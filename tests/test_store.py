"""Store creation, key permissions, dead letters at rest and purpose-bound sessions."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from queries.session import QueryError, QueryRefused, QuerySession
from schemas.lake import purpose_schema
from schemas.policy import default_policies, default_policy_path, load_policy
from schemas.purposes import Purpose, UnlawfulPurposeError
from store import deadletter
from store.cases import open_case
from store.init import init_store
from store.keys import KEY_NAMES, KeyFileError, load_keys
from store.layout import StoreError, StoreLayout
from store.ledger import Ledger

WINDOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> StoreLayout:
    return init_store(tmp_path / "store", default_policies())


def test_init_layout_and_permissions(store: StoreLayout) -> None:
    for sub in (store.lake, store.keys, store.deadletter):
        assert sub.is_dir()
    assert store.catalog.is_file() and store.marker.is_file()
    assert stat.S_IMODE(store.keys.stat().st_mode) == 0o700
    for name in [*KEY_NAMES, "pseudonym-k1", "periods"]:
        path = store.keys / (f"{name}.json" if name == "periods" else f"{name}.key")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = load_keys(store.keys)
    assert len({keys.pseudonym, keys.evidence, keys.ipcrypt, keys.deadletter}) == 4
    assert keys.pseudonym.hex() not in repr(keys)


def test_init_refuses_existing_store(store: StoreLayout) -> None:
    with pytest.raises(StoreError, match="already holds a loggvern store"):
        init_store(store.root, default_policies())


def test_exposed_key_is_refused(store: StoreLayout) -> None:
    os.chmod(store.keys / "pseudonym-k1.key", 0o644)
    with pytest.raises(KeyFileError, match="owner-only"):
        load_keys(store.keys)


def test_deadletter_roundtrip_is_encrypted(store: StoreLayout) -> None:
    key = load_keys(store.keys).deadletter
    secret = b"Failed password for Sommer2024! from 203.0.113.77"
    table = pa.table({"file": ["auth.log"], "line": [7], "reason": ["r"], "raw": [secret]})
    path = store.deadletter / "run" / "p.dl"
    deadletter.write_sealed(path, table, key)
    assert secret not in path.read_bytes() and b"auth.log" not in path.read_bytes()
    ((_, back),) = list(deadletter.read_all(store.deadletter, key))
    assert back.column("raw").to_pylist() == [secret]
    with pytest.raises(deadletter.DeadLetterError):
        deadletter.unseal(path.read_bytes(), b"x" * 32, path)


def _put_rows(store: StoreLayout) -> None:
    policy = load_policy(default_policy_path("iptables"))
    for purpose in Purpose:
        schema = purpose_schema(policy, purpose)
        cols = {f.name: pa.nulls(1, f.type) for f in schema}
        cols["time"] = pa.array([datetime(2026, 11, 16, tzinfo=UTC)], schema.field("time").type)
        cols["action"] = pa.array([purpose.value])
        target = store.partition_dir("network_activity", purpose.value) / "date=2026-11-16"
        target.mkdir(parents=True)
        pq.write_table(pa.table(cols, schema=schema), target / "r.parquet")


def test_session_sees_only_its_purpose(store: StoreLayout) -> None:
    _put_rows(store)
    with QuerySession(store, "network_administration", actor="t") as s:
        rows = s.execute("SELECT action FROM network_activity").table.column("action")
        assert rows.to_pylist() == ["network_administration"]
        with pytest.raises(QueryError):
            s.execute("SELECT actor_user FROM network_activity")
        for escape in (
            "SELECT * FROM security_incident.network_activity",
            f"SELECT * FROM read_parquet('{store.lake}/**/*.parquet')",
            "SELECT * FROM read_csv('/etc/passwd')",
            "SET enable_external_access = true",
        ):
            with pytest.raises(QueryRefused):
                s.execute(escape)
    case = open_case(store, Ledger(store, "t"), "t", "a justification long enough", WINDOW)
    with QuerySession(store, "security_incident", case.id, actor="t") as s:
        assert s.execute("SELECT action FROM network_activity").table.num_rows == 1


def test_unlawful_purpose_refused(store: StoreLayout) -> None:
    for word in ("productivity", "performance", "attendance", ""):
        with pytest.raises(UnlawfulPurposeError, match="not lawful"):
            QuerySession(store, word)


def test_session_requires_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a loggvern store"):
        QuerySession(StoreLayout(tmp_path), "security_incident")
