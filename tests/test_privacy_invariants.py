"""Privacy invariants on a store built from the synthetic municipality and Elastic's
fixtures: no plain identity in any string of any Parquet file or of the catalog, no
key anywhere, every row with lawful purposes only, read = written + rejected.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from loggvern.cli import main
from pipelines.synthetic.municipality import generate_municipality
from schemas.purposes import LAWFUL_PURPOSES
from store.keys import load_keys
from tests.conftest import FIXTURES

# Identities written in the fixture files (the user fields, owners, hosts, internal IPs).
FIXTURE_IDENTITIES = [
    "vagrant", "tsg", "Alan Smithee", "ASR@TESTSIEM2.ONMICROSOFT.COM",
    "alice@testsiem2.onmicrosoft.com", "asr_testsiem2_onmicrosoft_com",
    "Hostname", "example-host", "MainFirewall", "ubuntu-bionic", "slave22", "precise32",
    "localhost-machine", "10.4.0.5", "192.168.2.71", "192.168.2.83", "172.16.54.114",
    "192.168.100.198", "10.251.1.1", "192.168.110.116", "192.168.2.25", "10.0.2.2",
    "192.168.33.1", "90:10:20:76:8d:20",
]  # fmt: skip
SHORT = 6  # shorter identities are compared whole (random pseudonyms may contain them)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str]]:
    work = tmp_path_factory.mktemp("privacy")
    inputs = generate_municipality(work / "input", employees=40, days=1)
    truth = json.loads(inputs.identities.read_text())
    identities = [
        v
        for key in (
            "user_names", "emails", "aliases", "display_names", "sam_accounts", "host_names",
            "device_names", "internal_ips", "home_ips", "mistyped_secrets",
            "personal_site_segments", "mac_addresses", "key_fingerprints",
        )
        for v in truth.get(key, [])
    ]  # fmt: skip
    dlp = work / "o365.jsonl"
    events = json.loads((FIXTURES / "elastic/o365/test-dlp-sharepoint-events.json").read_text())
    dlp.write_text("".join(e["event"]["original"] + "\n" for e in events["events"]))
    store = work / "store"
    outputs: list[str] = []
    assert main(["init", str(store)]) == 0
    jobs = [
        ("iptables", inputs.firewall, "Europe/Oslo"),
        ("sshd", inputs.auth, "Europe/Oslo"),
        ("o365-dlp", inputs.dlp, "UTC"),
        ("iptables", FIXTURES / "elastic/iptables/test-iptables-raw.log", "UTC"),
        ("sshd", FIXTURES / "elastic/system/test-auth.log", "UTC"),
        ("o365-dlp", dlp, "UTC"),
    ]
    for source, path, tz in jobs:
        args = ["ingest", str(store), "--source", source, "--aliases", str(inputs.aliases)]
        assert main([*args, "--timezone", tz, str(path)]) == 0
    return store, identities + FIXTURE_IDENTITIES, outputs


def _strings(table: pa.Table) -> set[str]:
    found: set[str] = set()
    for column in table.columns:
        values = column.combine_chunks()
        while pa.types.is_list(values.type):
            values = pc.list_flatten(values)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            found.update(v for v in pc.unique(values).to_pylist() if v is not None)
    return found


def _lake_files(store: Path) -> list[Path]:
    return sorted((store / "lake").rglob("*.parquet"))


def _leaks(strings: set[str], identities: list[str]) -> list[str]:
    whole = {s.casefold() for s in strings}
    text = "\n".join(whole)
    leaks = []
    for ident in identities:
        needle = ident.casefold()
        if (needle in whole) if len(needle) < SHORT else (needle in text):
            leaks.append(ident)
    return leaks


def test_no_plain_identity_in_lake(built: tuple[Path, list[str], list[str]]) -> None:
    store, identities, _ = built
    assert len(identities) > 100
    strings: set[str] = set()
    for path in _lake_files(store):
        strings |= _strings(pq.read_table(path))
        strings.add(str(path.relative_to(store)))
    assert len(strings) > 100
    assert _leaks(strings, identities) == []


def test_no_plain_identity_in_catalog(built: tuple[Path, list[str], list[str]]) -> None:
    store, identities, _ = built
    con = duckdb.connect(str(store / "catalog.duckdb"), read_only=True)
    strings = {row[0] for row in con.execute("SELECT sql FROM duckdb_views()").fetchall() if row[0]}
    for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
        strings |= _strings(con.sql(f'SELECT * FROM "{name}"').to_arrow_table())
    con.close()
    assert _leaks(strings, identities) == []


def test_keys_never_stored_or_printed(
    built: tuple[Path, list[str], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    store, _, _ = built
    keys = load_keys(store / "keys")
    secrets = [k.hex() for k in (keys.pseudonym, keys.evidence, keys.ipcrypt, keys.deadletter)]
    blobs = [p.read_bytes() for p in _lake_files(store)] + [(store / "catalog.duckdb").read_bytes()]
    for secret in secrets:
        assert not any(secret.encode() in b or bytes.fromhex(secret) in b for b in blobs)
    assert main(["deadletter", "show", str(store), "--limit", "5"]) == 0
    out = capsys.readouterr()
    assert not any(s in out.out + out.err for s in secrets)


def test_every_row_has_lawful_purposes_only(built: tuple[Path, list[str], list[str]]) -> None:
    store, _, _ = built
    rows = 0
    for path in _lake_files(store):
        table = pq.read_table(path, columns=["purposes"])
        tags = table.column("purposes").combine_chunks()
        rows += table.num_rows
        if table.num_rows:
            assert pc.min(pc.list_value_length(tags)).as_py() >= 1
            assert set(pc.list_flatten(tags).to_pylist()) <= set(LAWFUL_PURPOSES)
            partition = next(p for p in path.parts if p.startswith("purpose="))[8:]
            assert pc.all(pc.equal(pc.list_value_length(tags), pc.list_value_length(tags))).as_py()
            flat = pc.list_flatten(tags)
            assert pc.sum(pc.equal(flat, partition)).as_py() == table.num_rows
    assert rows > 1000


def test_accounting_holds_for_every_run(built: tuple[Path, list[str], list[str]]) -> None:
    store, _, _ = built
    runs = [json.loads(p.read_text()) for p in (store / "runs").glob("*.json")]
    assert len(runs) == 6
    for run in runs:
        assert run["read"] == run["written"] + run["rejected"]
        files = [Path(f) for f in run["files"]]
        assert run["read"] == sum(len(f.read_bytes().splitlines()) for f in files)


def test_log_output_carries_no_identity(
    built: tuple[Path, list[str], list[str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, identities, _ = built
    log = tmp_path / "bad.log"
    log.write_text(
        "Nov 16 08:01:02 fw01 kernel: [UFW BLOCK] IN=eth0 SRC=kari.nordmann DST=x\n"
        "Nov 16 08:01:02 srv-journal01 sshd[1]: Failed password for Sommer2024! from 1.2.3.4 port 99999999999 ssh2\n"  # noqa: E501
    )
    assert main(["ingest", str(store), "--source", "iptables", str(log)]) == 0
    assert main(["ingest", str(store), "--source", "sshd", str(log)]) == 0
    out = capsys.readouterr()
    assert _leaks({out.out, out.err}, [*identities, "kari.nordmann", "Sommer2024!"]) == []


def test_no_plain_identity_or_key_in_ledger(
    built: tuple[Path, list[str], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The ledger records runs, policies and queries, not the data: no identity from the
    inputs and no key (the signing key included) is in it, its head, cases or policies."""
    store, identities, _ = built
    assert main(["case", "open", str(store), "--title", "privacy check", "--from", "2000-01-01",
                 "--justification", "checking what the ledger holds"]) == 0  # fmt: skip
    assert main(["query", str(store), "--purpose", "security_incident", "--case", "CASE-0001",
                 "SELECT actor_user, count(*) FROM authentication GROUP BY ALL"]) == 0  # fmt: skip
    assert main(["stats", str(store), "--named", "logins_per_day"]) == 0
    capsys.readouterr()
    files = [
        store / "ledger" / "ledger.jsonl",
        store / "ledger" / "head.json",
        store / "cases.json",
    ]
    files += sorted((store / "policies").rglob("*.toml"))
    texts = {p.read_text(encoding="utf-8") for p in files}
    assert _leaks(texts, identities) == []
    keys = load_keys(store / "keys")
    signing = (store / "keys" / "ledger-signing.key").read_text().strip()
    secrets = [k.hex() for k in (keys.pseudonym, keys.evidence, keys.ipcrypt, keys.deadletter)]
    assert not any(s in t for s in [*secrets, signing] for t in texts)


def test_vault_and_breakglass_hold_no_plain_identity(
    built: tuple[Path, list[str], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The vault keeps identities sealed, the break-glass trail keeps pseudonyms only; the
    revealed name reaches the terminal and nothing else."""
    store, identities, _ = built
    lake = store / "lake" / "authentication" / "purpose=security_incident"
    users = {u for p in lake.rglob("*-*.parquet") for u in pq.read_table(p).column("actor_user")}
    sealed = {u for p in (store / "vault").rglob("*.parquet") for u in pq.read_table(p)[0]}
    pseudonym = sorted(u.as_py() for u in users & sealed if u.as_py().startswith("usr-"))[0]
    if main(["case", "list", str(store)]) == 0 and "CASE-0001" not in capsys.readouterr().out:
        assert main(["case", "open", str(store), "--title", "vault check", "--from", "2000-01-01",
                     "--justification", "checking what the vault holds"]) == 0  # fmt: skip
    capsys.readouterr()
    why = "checking that a reveal leaves no identity anywhere in the store"
    assert main(["breakglass", "request", str(store), "--case", "CASE-0001", "--purpose",
                 "security_incident", "--justification", why, "--pseudonym", pseudonym,
                 "--notify", "now", "--as", "analyst"]) == 0  # fmt: skip
    request = capsys.readouterr().out.strip()
    share = str(store / "custodians" / "dpo.share")
    assert (
        main(["breakglass", "approve", str(store), request, "--as", "dpo", "--share", share]) == 0
    )
    assert main(["breakglass", "reveal", str(store), request, "--share", share]) == 0
    shown = capsys.readouterr().out
    (row,) = [line for line in shown.splitlines() if pseudonym in line]
    revealed = [cell.strip() for cell in row.split("│") if cell.strip()][-1]
    assert revealed and revealed != pseudonym  # e.g. employee:E10007 or a service account
    strings: set[str] = set()
    for path in sorted((store / "vault").rglob("*.parquet")):
        table = pq.read_table(path)
        assert table.column_names == ["pseudonym", "kind", "sealed", "mac"]
        strings |= _strings(table.select(["pseudonym", "kind"]))
        strings.add(path.read_bytes().decode("latin-1"))
    for name in ("breakglass.json", "vault/custodians.json", "ledger/ledger.jsonl"):
        strings.add((store / name).read_text(encoding="utf-8"))
    assert len(strings) > 50  # one per pseudonym sealed, plus the files
    assert _leaks(strings, identities) == []
    trail = {(store / name).read_text() for name in ("ledger/ledger.jsonl", "breakglass.json")}
    assert _leaks(trail, [revealed]) == []  # short names (e.g. root, also an OS actor) whole
