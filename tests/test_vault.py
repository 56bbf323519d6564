"""The identity vault and its custodians: M-of-N key splitting (every quorum opens, no
smaller set does, a wrong, swapped or foreign share is refused), the private key nowhere
in the store, one sealed entry per pseudonym, failed-login user names held back, and
entries bound to their pseudonym (HPKE info, vault MAC, HMAC of the opened identity)."""

from __future__ import annotations

import base64
import itertools
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shamir_mnemonic
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from loggvern.commands import ingest
from pipelines.commit import RunSummary
from pipelines.synthetic.municipality import DemoInputs, generate_municipality
from queries.breakglass.opening import Opened, open_entries
from queries.breakglass.reveal import expected_pseudonym, store_check
from schemas.datasets import IdentityKind
from schemas.policy import Policy, default_policies
from store.custodians import (
    DEFAULT_CUSTODIAN,
    MAX_CUSTODIANS,
    CustodianError,
    Share,
    VaultConfig,
    commitment,
    load_vault_config,
    parse_custodians,
    read_share,
    rebuild_private_key,
    verify_share,
)
from store.init import init_store
from store.keys import KeyRing, load_keys
from store.layout import StoreLayout
from store.vault import (
    VAULT_SCHEMA,
    Sealer,
    VaultError,
    entries_dir,
    entry_mac,
    find_entries,
    genuine_entries,
    mac_key,
    open_sealed,
    vault_mac_keys,
    vault_pseudonyms,
    write_new_entries,
)
from transforms.identity import AliasDirectory
from transforms.parse.base import ParseContext
from transforms.parse.sshd import parse_sshd
from transforms.pseudonymize import Pseudonymizer, pseudonym_token
from transforms.seal import held_back, take_sealable

OP = "vault-test"
NAMES = ["a", "b", "c", "d", "e"]
QUORUM = 3
TZ = "Europe/Oslo"
TOKEN = re.compile(r"(?:usr|dev|hst|adr|mac|pth)-k1-[a-z2-7]{26}")
# Person columns of the lake, written out by hand (independent of schemas/datasets.py).
PERSON_COLUMNS = {
    "network_activity": ["actor_user"],
    "authentication": ["actor_user", "target_user", "key_fingerprint"],
    "data_security_finding": ["actor_user", "actor_display", "file_url", "site_url"],
}


@dataclass
class Built:
    root: Path
    inputs: DemoInputs
    runs: dict[str, RunSummary]

    @property
    def layout(self) -> StoreLayout:
        return StoreLayout(self.root)

    def sources(self) -> list[tuple[str, Path]]:
        i = self.inputs
        return [("iptables", i.firewall), ("sshd", i.auth), ("o365-dlp", i.dlp)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("vault")
    inputs = generate_municipality(work / "input", employees=20, days=1)
    root = work / "store"
    init_store(root, default_policies(), OP, NAMES, QUORUM)
    result = Built(root, inputs, {})
    for source, path in result.sources():
        result.runs[source] = ingest(
            root, source, [path], aliases=inputs.aliases, timezone=TZ, actor=OP
        )
    return result


@pytest.fixture
def layout(built: Built, tmp_path: Path) -> StoreLayout:
    """A private copy of the built store, for tests that add to it."""
    shutil.copytree(built.root, tmp_path / "store", symlinks=True)
    return StoreLayout(tmp_path / "store")


@pytest.fixture(scope="module")
def config(built: Built) -> VaultConfig:
    return load_vault_config(built.layout)


@pytest.fixture(scope="module")
def shares(built: Built) -> dict[str, Share]:
    return {n: read_share(built.root / "custodians" / f"{n}.share") for n in NAMES}


@pytest.fixture(scope="module")
def vault_key(config: VaultConfig, shares: dict[str, Share]) -> X25519PrivateKey:
    return rebuild_private_key(config, [shares[n] for n in NAMES[:QUORUM]])


@pytest.fixture(scope="module")
def store_keys(built: Built) -> KeyRing:
    return load_keys(built.layout.keys)


@pytest.fixture(scope="module")
def other_store(tmp_path_factory: pytest.TempPathFactory) -> StoreLayout:
    """A second store with the same custodian names: its shares are not this store's."""
    root = tmp_path_factory.mktemp("other") / "store"
    return init_store(root, default_policies(), OP, NAMES, QUORUM)


def public_hex(key: X25519PrivateKey) -> str:
    return key.public_key().public_bytes_raw().hex()


def all_entries(layout: StoreLayout) -> pa.Table:
    files = sorted(entries_dir(layout).glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f, schema=VAULT_SCHEMA) for f in files])


def user_token(keys: KeyRing, aliases: AliasDirectory, value: str) -> str:
    canonical = aliases.canonical(value)[0]
    return pseudonym_token(keys.pseudonym, keys.pseudonym_key_id, IdentityKind.user, canonical)


def lake_tokens(layout: StoreLayout, datasets: dict[str, list[str]]) -> set[str]:
    """Every pseudonym in the given person columns of the lake's data files."""
    found: set[str] = set()
    for dataset, columns in datasets.items():
        for path in (layout.lake / dataset).rglob("*.parquet"):
            if path.name == "_schema.parquet":
                continue
            table = pq.read_table(path)
            for column in columns:
                if column in table.column_names:
                    for value in table.column(column).to_pylist():
                        found.update(TOKEN.findall(value or ""))
    return found


def write_entries(layout: StoreLayout, name: str, table: pa.Table) -> None:
    entries_dir(layout).mkdir(parents=True, exist_ok=True)
    pq.write_table(table, entries_dir(layout) / f"{name}.parquet")


# --- 1. quorum ----------------------------------------------------------------------


def test_every_quorum_rebuilds_the_vault_key(config: VaultConfig, shares: dict[str, Share]) -> None:
    assert config.threshold == QUORUM and config.names == NAMES
    assert config.fingerprint.startswith("x25519:")
    quorums = list(itertools.combinations(NAMES, QUORUM))
    assert len(quorums) == 10
    for names in quorums:
        key = rebuild_private_key(config, [shares[n] for n in reversed(names)])
        assert public_hex(key) == config.public_key, names
        assert key.public_key().public_bytes_raw() == config.public().public_bytes_raw()


def test_more_than_the_quorum_also_rebuilds_the_vault_key(
    config: VaultConfig, shares: dict[str, Share]
) -> None:
    quorums = [c for k in (4, 5) for c in itertools.combinations(NAMES, k)]
    assert len(quorums) == 5 + 1
    for names in quorums:
        key = rebuild_private_key(config, [shares[n] for n in names])
        assert public_hex(key) == config.public_key, names


def test_fewer_than_the_quorum_or_a_share_twice_is_refused(
    config: VaultConfig, shares: dict[str, Share]
) -> None:
    pairs = list(itertools.combinations(NAMES, 2))
    assert len(pairs) == 10
    for names in pairs:
        with pytest.raises(CustodianError, match="quorum is 3 of 5"):
            rebuild_private_key(config, [shares[n] for n in names])
    for given in ([], [shares["a"]]):
        with pytest.raises(CustodianError, match="quorum"):
            rebuild_private_key(config, given)
    for given in ([shares["a"], shares["a"], shares["b"]], [shares["c"]] * 3):
        with pytest.raises(CustodianError, match="given twice"):
            rebuild_private_key(config, given)
    # the same words under a second name are not a second share either
    alias = Share("b", shares["a"].words, "alias")
    with pytest.raises(CustodianError, match="commitment"):
        rebuild_private_key(config, [shares["a"], alias, shares["c"]])


def test_share_files_are_owner_only_and_normalised_words_still_open(
    built: Built, config: VaultConfig, shares: dict[str, Share], tmp_path: Path
) -> None:
    for name in NAMES:
        path = built.root / "custodians" / f"{name}.share"
        assert path.stat().st_mode & 0o077 == 0
        assert commitment(name, shares[name].words) == config.commitment_of(name)
    assert (built.root / "custodians").stat().st_mode & 0o077 == 0
    typed = tmp_path / "typed.share"  # upper case, extra blanks, a comment: same share
    words = "  ".join(shares["b"].words.upper().split())
    typed.write_text(f"# typed by hand\n  custodian: b\n\nshare:   {words}  \n", encoding="utf-8")
    again = read_share(typed)
    assert again.words == shares["b"].words and again.source == str(typed)
    key = rebuild_private_key(config, [shares["a"], again, shares["e"]])
    assert public_hex(key) == config.public_key


# --- 2. wrong shares --------------------------------------------------------------


def _rewrite(path: Path, target: Path, old: str, new: str) -> Path:
    text = path.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def _other_word(word: str) -> str:
    wordlist = shamir_mnemonic.wordlist.WORDLIST
    return wordlist[(wordlist.index(word) + 1) % len(wordlist)]


def test_a_share_with_one_word_changed_is_refused(
    built: Built, config: VaultConfig, shares: dict[str, Share], tmp_path: Path
) -> None:
    words = shares["a"].words.split()
    for position in (0, len(words) // 2, len(words) - 1):
        changed = list(words)
        changed[position] = _other_word(words[position])
        path = _rewrite(
            built.root / "custodians" / "a.share",
            tmp_path / f"a-{position}.share",
            shares["a"].words,
            " ".join(changed),
        )
        bad = read_share(path)
        with pytest.raises(CustodianError, match="commitment") as info:
            rebuild_private_key(config, [bad, shares["b"], shares["c"]])
        assert str(path) in str(info.value)
        with pytest.raises(CustodianError, match="commitment"):
            verify_share(config, bad)
        # Even with the commitment forged to match (someone who can write the store),
        # the SLIP-39 checksum refuses the altered words.
        forged = config.model_copy(
            update={
                "custodians": tuple(
                    c.model_copy(update={"commitment": commitment("a", bad.words)})
                    if c.name == "a"
                    else c
                    for c in config.custodians
                )
            }
        )
        verify_share(forged, bad)
        with pytest.raises(CustodianError, match="do not combine"):
            rebuild_private_key(forged, [bad, shares["b"], shares["c"]])
    # a word that is not in the word list at all
    unknown = Share("a", shares["a"].words.replace(words[5], "zzzz", 1))
    forged = config.model_copy(
        update={
            "custodians": tuple(
                c.model_copy(update={"commitment": commitment("a", unknown.words)})
                if c.name == "a"
                else c
                for c in config.custodians
            )
        }
    )
    with pytest.raises(CustodianError, match="do not combine"):
        rebuild_private_key(forged, [unknown, shares["b"], shares["c"]])


def test_a_share_presented_as_another_custodians_is_refused(
    built: Built, config: VaultConfig, shares: dict[str, Share], tmp_path: Path
) -> None:
    path = _rewrite(
        built.root / "custodians" / "a.share", tmp_path / "b.share", "custodian: a", "custodian: b"
    )
    swapped = read_share(path)
    assert swapped.custodian == "b" and swapped.words == shares["a"].words
    with pytest.raises(CustodianError, match="'b'.s commitment"):
        verify_share(config, swapped)
    with pytest.raises(CustodianError, match="commitment"):
        rebuild_private_key(config, [shares["a"], swapped, shares["c"]])
    with pytest.raises(CustodianError, match="commitment"):
        rebuild_private_key(config, [swapped, shares["c"], shares["d"]])
    with pytest.raises(CustodianError, match="belongs to 'a', not to 'b'"):
        verify_share(config, shares["a"], custodian="b")
    verify_share(config, shares["a"], custodian="a")  # the holder herself: accepted
    with pytest.raises(CustodianError, match="not a custodian"):
        verify_share(config, Share("zed", shares["a"].words))


def test_a_share_from_another_store_is_refused(
    config: VaultConfig, shares: dict[str, Share], other_store: StoreLayout
) -> None:
    other_config = load_vault_config(other_store)
    assert other_config.public_key != config.public_key
    theirs = {n: read_share(other_store.root / "custodians" / f"{n}.share") for n in NAMES}
    assert public_hex(rebuild_private_key(other_config, list(theirs.values())[:3])) == (
        other_config.public_key
    )
    for name in NAMES:
        with pytest.raises(CustodianError, match="commitment"):
            verify_share(config, theirs[name])
        with pytest.raises(CustodianError, match="commitment"):
            verify_share(other_config, shares[name])
    with pytest.raises(CustodianError):
        rebuild_private_key(config, [theirs["a"], theirs["b"], theirs["c"]])
    with pytest.raises(CustodianError):
        rebuild_private_key(config, [shares["a"], shares["b"], theirs["c"]])
    with pytest.raises(CustodianError):
        rebuild_private_key(other_config, [shares["a"], shares["b"], shares["c"]])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("custodian: a\n", "no 'share:' line"),
        ("share: academic acid acne\n", "no 'custodian:' line"),
        ("custodian: a\nshare:\n", "no 'share:' line"),
        ("custodian: a\nnote: keep safe\nshare: academic\n", "line 2: expected 'custodian:'"),
        ("# x\ncustodian: a\n\njust words here\n", "line 4: expected 'custodian:'"),
        ("custodian: a\ncustodian: b\nshare: academic\n", "line 2: 'custodian' given twice"),
        (b"custodian: a\nshare: acad\xe9mic\n", "not UTF-8"),
        (b"\xff\xfe\x00c\x00u\x00", "not UTF-8"),
    ],
)
def test_malformed_share_files_name_file_and_line(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = tmp_path / "bad.share"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CustodianError) as info:
        read_share(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_missing_share_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CustodianError, match="cannot read share"):
        read_share(tmp_path / "nope.share")


# --- 3. parse_custodians ----------------------------------------------------------


def test_parse_custodians_defaults_to_one_dpo_with_a_flag() -> None:
    assert parse_custodians(None, None) == ([DEFAULT_CUSTODIAN], 1, True)
    assert parse_custodians("", None) == ([DEFAULT_CUSTODIAN], 1, True)
    assert parse_custodians(None, 1) == ([DEFAULT_CUSTODIAN], 1, True)
    with pytest.raises(CustodianError, match="needs --custodians"):
        parse_custodians(None, 2)


def test_parse_custodians_names_and_majority() -> None:
    assert parse_custodians("dpo,union,ciso", None) == (["dpo", "union", "ciso"], 2, False)
    assert parse_custodians(" a , b.c ,d_e,f-g ", None) == (["a", "b.c", "d_e", "f-g"], 3, False)
    assert parse_custodians("a,b,c,d,e", 5) == (NAMES, 5, False)
    assert parse_custodians("a,b,c,d,e", 2) == (NAMES, 2, False)
    assert parse_custodians("x" * 32, None) == (["x" * 32], 1, False)
    sixteen = ",".join(f"c{i}" for i in range(MAX_CUSTODIANS))
    assert len(parse_custodians(sixteen, 9)[0]) == MAX_CUSTODIANS


@pytest.mark.parametrize(
    ("names", "threshold", "message"),
    [
        ("a,b,a", 2, "listed twice"),
        ("dpo,DPO", None, "name 'DPO'"),
        ("Alice", None, "name 'Alice'"),
        ("1a,b", None, "name '1a'"),
        ("a b,c", None, "name 'a b'"),
        ("a,,b", None, "name ''"),
        ("a,b,", None, "name ''"),
        ("x" * 33, None, "name 'xxx"),
        ("ærlig,b", None, "name 'ærlig'"),
        ("a/b,c", None, "name 'a/b'"),
        ("a,b,c", 0, "--threshold 0"),
        ("a,b,c", -1, "--threshold -1"),
        ("a,b,c", 4, "--threshold 4: must be between 1 and 3"),
        ("a", 2, "--threshold 2"),
        (",".join(f"c{i}" for i in range(MAX_CUSTODIANS + 1)), 3, "at most 16"),
    ],
)
def test_parse_custodians_refusals(names: str, threshold: int | None, message: str) -> None:
    with pytest.raises(CustodianError, match=re.escape(message)):
        parse_custodians(names, threshold)


def test_one_of_several_custodians_is_refused_up_front_or_works(tmp_path: Path) -> None:
    try:
        names, threshold, _ = parse_custodians("a,b,c", 1)
    except CustodianError:
        return  # refused before anything is created: fine
    layout = init_store(tmp_path / "s", default_policies(), OP, names, threshold)
    config = load_vault_config(layout)
    for name in names:
        share = read_share(layout.root / "custodians" / f"{name}.share")
        assert public_hex(rebuild_private_key(config, [share])) == config.public_key


# --- 4. the vault cannot be opened from the store ---------------------------------


@pytest.fixture(scope="module")
def store_blobs(built: Built) -> list[tuple[str, bytes]]:
    """Every file under STORE except custodians/ (raw), plus the decoded values of every
    Parquet column (a key in a zstd-compressed column would not show in the raw bytes)."""
    blobs: list[tuple[str, bytes]] = []
    for path in sorted(built.root.rglob("*")):
        rel = path.relative_to(built.root)
        if not path.is_file() or rel.parts[0] == "custodians":
            continue
        assert path.stat().st_size < 1 << 20, rel
        blobs.append((str(rel), path.read_bytes()))
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            for name in table.column_names:
                parts = []
                for value in table.column(name).to_pylist():
                    if isinstance(value, bytes):
                        parts.append(value)
                    elif value is not None:
                        parts.append(str(value).encode())
                blobs.append((f"{rel}#{name}", b"\n".join(parts)))
    names = {n.split("#")[0] for n, _ in blobs}
    assert any(n.startswith("vault/entries/") for n in names)
    assert any(n.startswith("lake/authentication/") for n in names)
    assert {"keys/pseudonym-k1.key", "vault/custodians.json", "ledger/ledger.jsonl"} <= names
    return blobs


def clamped_matches(blob: bytes, secret: bytes) -> list[int]:
    """Offsets of every 32-byte window of `blob` that is the same X25519 scalar as
    `secret` once clamped (RFC 7748). Exactly these windows derive the same public key:
    clamped scalars are multiples of 8 in [2^254, 2^255) and the base point's order is
    about 2^252, so two different clamped scalars never give the same public key. Found
    via the 30 unclamped middle bytes, so every offset is covered in linear time."""
    found = []
    middle = secret[1:31]
    start = blob.find(middle, 1)
    while start != -1:
        w = start - 1
        window = blob[w : w + 32]
        if (
            len(window) == 32
            and window[0] & 248 == secret[0] & 248
            and (window[31] & 127) | 64 == (secret[31] & 127) | 64
        ):
            found.append(w)
        start = blob.find(middle, start + 1)
    return found


def derives(candidate: bytes, public: bytes) -> bool:
    derived = X25519PrivateKey.from_private_bytes(candidate).public_key().public_bytes_raw()
    return derived == public


def hex_candidates(blob: bytes) -> list[bytes]:
    """Every 64-hex-digit run (at every offset inside longer runs), decoded."""
    out = []
    for match in re.finditer(rb"[0-9a-fA-F]{64,}", blob):
        run = match.group()
        out.extend(bytes.fromhex(run[i : i + 64].decode()) for i in range(len(run) - 63))
    return out


def base64_decodings(blob: bytes) -> list[bytes]:
    """Runs of base64 / base64url text, decoded at each of the four alignments."""
    out = []
    for match in re.finditer(rb"[A-Za-z0-9+/_-]{43,}", blob):
        run = match.group().translate(bytes.maketrans(b"-_", b"+/"))
        for shift in range(4):
            usable = (len(run) - shift) // 4 * 4
            out.append(base64.b64decode(run[shift : shift + usable]))
    return out


def test_the_scanners_find_a_planted_key() -> None:
    """The scan below is only worth something if it finds the key where it is."""
    secret = X25519PrivateKey.generate().private_bytes_raw()
    public = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    variant = bytes([secret[0] ^ 0x07]) + secret[1:31] + bytes([secret[31] ^ 0xC0])
    assert variant != secret and derives(variant, public)  # same scalar after clamping
    blob = os.urandom(13) + variant + os.urandom(40)
    assert clamped_matches(blob, secret) == [13]
    assert [i for i in range(len(blob) - 31) if derives(blob[i : i + 32], public)] == [13]
    text = b"x" + os.urandom(3).hex().encode() + b"f" + secret.hex().upper().encode() + b"e"
    assert sum(derives(c, public) for c in hex_candidates(text)) == 1
    encoded = base64.urlsafe_b64encode(b"ab" + secret + b"cdef")
    assert any(clamped_matches(d, secret) for d in base64_decodings(b"=" + encoded + b"="))


def test_no_private_key_or_share_words_outside_custodians(
    store_blobs: list[tuple[str, bytes]],
    vault_key: X25519PrivateKey,
    shares: dict[str, Share],
    built: Built,
) -> None:
    secret = vault_key.private_bytes_raw()
    needles = {
        "raw": secret,
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "base64": base64.b64encode(secret),
        "base64 unpadded": base64.b64encode(secret).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(secret).rstrip(b"="),
    }
    for name, share in shares.items():
        words = share.words.split()
        needles[f"share {name}"] = share.words.encode()
        needles[f"share {name} upper"] = share.words.upper().encode()
        needles[f"share {name} tail"] = " ".join(words[-10:]).encode()
        needles[f"share {name} commas"] = ",".join(words[-10:]).encode()
    for where, blob in store_blobs:
        for what, needle in needles.items():
            assert needle not in blob, f"{what} found in {where}"
    # where the shares are, they are found: the search looks at the right text
    for name in NAMES:
        text = (built.root / "custodians" / f"{name}.share").read_bytes()
        assert needles[f"share {name}"] in text


def test_no_window_of_any_store_file_derives_the_vault_public_key(
    store_blobs: list[tuple[str, bytes]], vault_key: X25519PrivateKey, config: VaultConfig
) -> None:
    secret = vault_key.private_bytes_raw()
    public = bytes.fromhex(config.public_key)
    derived = 0
    for where, blob in store_blobs:
        # Every offset of every blob: exact clamped-scalar equality (see clamped_matches).
        assert clamped_matches(blob, secret) == [], where
        # The literal X25519 derivation at every raw offset only outside the lake's
        # Parquet files and the DuckDB catalog: those are ~3/4 of the bytes and would add
        # ~10 s; the clamped comparison above already covers them exactly. Derived in
        # full: the vault (entries Parquet too), keys, ledger, runs, dead letters, policies.
        if "#" not in where and not where.startswith("lake/") and where != "catalog.duckdb":
            for offset in range(len(blob) - 31):
                assert not derives(blob[offset : offset + 32], public), (where, offset)
            derived += max(0, len(blob) - 31)
        for candidate in hex_candidates(blob):
            assert not derives(candidate, public), where
            derived += 1
        for decoded in base64_decodings(blob):
            assert clamped_matches(decoded, secret) == [], where
    assert derived > 10_000  # the scan did look at the store


def test_no_key_file_opens_any_vault_entry(
    built: Built, vault_key: X25519PrivateKey, config: VaultConfig
) -> None:
    entries = all_entries(built.layout).to_pylist()
    assert len(entries) > 20
    candidates = {}
    key_files = sorted(built.layout.keys.glob("*.key"))  # not periods.json: no key in it
    assert len(key_files) >= 5
    for path in key_files:
        data = path.read_bytes()
        candidates[f"{path.name} (hex)"] = bytes.fromhex(data.decode().strip())
        candidates[f"{path.name} (raw)"] = data[:32]
    candidates["vault public key"] = bytes.fromhex(config.public_key)
    public = bytes.fromhex(config.public_key)
    for what, material in candidates.items():
        assert len(material) == 32, what
        assert not derives(material, public), what
        key = X25519PrivateKey.from_private_bytes(material)
        for row in entries:
            with pytest.raises(VaultError, match="does not open"):
                open_sealed(key, row["pseudonym"], row["sealed"])
    opened = open_sealed(vault_key, entries[0]["pseudonym"], entries[0]["sealed"])
    assert opened[0] == entries[0]["kind"]  # while the rebuilt key does


def test_with_the_rebuilt_key_every_entry_opens_to_its_pseudonym(
    built: Built, vault_key: X25519PrivateKey, store_keys: KeyRing
) -> None:
    table = all_entries(built.layout)
    check = store_check(store_keys, table)
    kinds = set()
    for row in table.to_pylist():
        pseudonym = row["pseudonym"]
        kind, value = open_sealed(vault_key, pseudonym, row["sealed"])
        assert kind == row["kind"] and pseudonym.startswith(f"{kind}-k1-")
        assert expected_pseudonym(store_keys, kind, value) == pseudonym
        assert check(pseudonym, kind, value)
        kinds.add(kind)
    assert {"usr", "hst", "adr"} <= kinds
    wanted = sorted(table.column("pseudonym").to_pylist())
    opened = open_entries(vault_key, find_entries(built.layout, wanted), wanted, check)
    assert sorted(opened.identities) == wanted and not opened.failed_check


# --- 5. once per pseudonym --------------------------------------------------------


def test_a_second_run_seals_nothing_and_each_pseudonym_is_sealed_once(
    built: Built, layout: StoreLayout
) -> None:
    first = built.runs
    assert first["iptables"].sealed > 0 and first["sshd"].sealed > 0
    files = sorted(entries_dir(layout).glob("*.parquet"))
    assert {f.stem for f in files} == {r.run_id for r in first.values() if r.sealed}
    assert sum(pq.read_metadata(f).num_rows for f in files) == sum(r.sealed for r in first.values())
    before = vault_pseudonyms(layout)
    inputs = built.inputs
    for source, path in built.sources():
        # another day's copy of the same lines (an identical file would be skipped whole)
        copy = path.with_name(path.name + ".again")
        copy.write_bytes(path.read_bytes() + b"\n")
        again = ingest(layout.root, source, [copy], aliases=inputs.aliases, timezone=TZ, actor=OP)
        assert again.written == first[source].written > 0
        assert again.sealed == 0, source
    assert sorted(entries_dir(layout).glob("*.parquet")) == files
    assert not [p for p in entries_dir(layout).iterdir() if p.suffix != ".parquet"]
    pseudonyms = all_entries(layout).column("pseudonym").to_pylist()
    assert len(pseudonyms) == len(set(pseudonyms)) == len(before)
    assert vault_pseudonyms(layout) == before


def _failed_only_unknown_tokens(built: Built, keys: KeyRing) -> set[str]:
    """User tokens of auth.log names that occur only in failed events and match no
    employee, computed from the parser's output and the alias directory."""
    aliases = AliasDirectory.load(built.inputs.aliases)
    lines = built.inputs.auth.read_text(encoding="utf-8").splitlines()
    rows = parse_sshd(pa.array(lines, pa.string()), ParseContext(reference_time=_mtime(built)))
    outcomes: dict[str, set[str | None]] = {}
    for row in rows.table.to_pylist():
        for column in PERSON_COLUMNS["authentication"]:
            if row[column]:
                outcomes.setdefault(row[column], set()).add(row["outcome"])
    return {
        user_token(keys, aliases, name)
        for name, seen in outcomes.items()
        if seen == {"failure"} and not aliases.canonical(name)[1]
    }


def _mtime(built: Built) -> datetime:
    return datetime.fromtimestamp(built.inputs.auth.stat().st_mtime, UTC)


def test_lake_user_pseudonyms_are_in_the_vault_except_failed_only_names(
    built: Built, store_keys: KeyRing
) -> None:
    lake = {t for t in lake_tokens(built.layout, PERSON_COLUMNS) if t.startswith("usr-")}
    vault = vault_pseudonyms(built.layout)
    held = _failed_only_unknown_tokens(built, store_keys)
    others = {k: v for k, v in PERSON_COLUMNS.items() if k != "authentication"}
    held -= lake_tokens(built.layout, others)  # seen outside failed logins: sealed
    assert len(held) >= 5
    assert lake - vault == held
    assert not held & vault
    assert {t for t in vault if t.startswith("usr-")} <= lake
    aliases = AliasDirectory.load(built.inputs.aliases)
    for line in ("Fjordvik#123", "admin", "Passord123!"):  # typed into the user field
        assert user_token(store_keys, aliases, line) in held


def test_every_vault_entry_is_referenced_by_the_lake(built: Built) -> None:
    everything = {
        "network_activity": ["actor_user", "src_ip", "dst_ip", "observer", "device"],
        "authentication": [*PERSON_COLUMNS["authentication"], "src_ip", "observer"],
        "data_security_finding": [*PERSON_COLUMNS["data_security_finding"], "src_ip"],
    }
    assert vault_pseudonyms(built.layout) <= lake_tokens(built.layout, everything)


# --- 6. failed logins ---------------------------------------------------------------

EMPLOYEES = "employee_id,identifier\nE1,kari.nordmann@fjordvik.kommune.no\nE1,karnor01\n"
FIRST = [
    "Nov 16 02:26:48 srv-jump01 sshd[100]: Invalid user hunter2secret from 203.0.113.9 port 4242",
    "Nov 16 02:26:48 srv-jump01 sshd[100]: Failed password for invalid user hunter2secret "
    "from 203.0.113.9 port 4242 ssh2",
    "Nov 16 02:26:49 srv-jump01 sshd[100]: Disconnected from invalid user hunter2secret "
    "203.0.113.9 port 4242 [preauth]",
    "Nov 16 02:27:00 srv-jump01 sshd[101]: Failed password for karnor01 from 10.20.2.11 "
    "port 5000 ssh2",
    "Nov 16 02:28:00 srv-jump01 sshd[102]: Failed password for svcdeploy from 198.51.100.7 "
    "port 5001 ssh2",
    "Nov 16 02:28:05 srv-jump01 sshd[103]: Accepted publickey for svcdeploy from "
    "198.51.100.7 port 5002 ssh2",
    "Nov 16 02:29:00 srv-jump01 sshd[104]: Failed password for invalid user latecomer from "
    "203.0.113.9 port 4243 ssh2",
]
LATER = [
    "Nov 16 03:00:00 srv-jump01 sshd[105]: Accepted password for latecomer from 198.51.100.8 "
    "port 5003 ssh2",
]


def test_failed_login_names_are_sealed_only_when_known_or_seen_succeeding(
    tmp_path: Path,
) -> None:
    root = tmp_path / "s"
    layout = init_store(root, default_policies(), OP, NAMES, QUORUM)
    aliases_path = tmp_path / "aliases.csv"
    aliases_path.write_text(EMPLOYEES, encoding="utf-8")
    first, later = tmp_path / "first.log", tmp_path / "later.log"
    first.write_text("\n".join(FIRST) + "\n", encoding="utf-8")
    later.write_text("\n".join(LATER) + "\n", encoding="utf-8")
    keys = load_keys(layout.keys)
    aliases = AliasDirectory.load(aliases_path)
    token = {n: user_token(keys, aliases, n) for n in ("hunter2secret", "karnor01", "svcdeploy")}
    token["latecomer"] = user_token(keys, aliases, "latecomer")
    assert token["karnor01"] == user_token(keys, aliases, "kari.nordmann@fjordvik.kommune.no")

    run1 = ingest(root, "sshd", [first], aliases=aliases_path, timezone=TZ, actor=OP)
    assert run1.written == len(FIRST) and run1.rejected == 0
    lake = lake_tokens(layout, {"authentication": ["actor_user"]})
    assert set(token.values()) <= lake  # all four are pseudonymised in the lake
    vault = vault_pseudonyms(layout)
    assert token["karnor01"] in vault  # a known employee's failed login: sealed
    assert token["svcdeploy"] in vault  # failed, but also accepted: a real account
    assert token["hunter2secret"] not in vault  # only ever failed, unknown: held back
    assert token["latecomer"] not in vault

    run2 = ingest(root, "sshd", [later], aliases=aliases_path, timezone=TZ, actor=OP)
    assert run2.sealed >= 1
    vault = vault_pseudonyms(layout)
    assert token["latecomer"] in vault  # a later success seals it
    assert token["hunter2secret"] not in vault

    shares = [read_share(root / "custodians" / f"{n}.share") for n in ("c", "d", "e")]
    key = rebuild_private_key(load_vault_config(layout), shares)
    values = {
        open_sealed(key, r["pseudonym"], r["sealed"]) for r in all_entries(layout).to_pylist()
    }
    assert ("usr", "employee:E1") in values and ("usr", "svcdeploy") in values
    assert ("usr", "latecomer") in values
    assert not [v for v in values if "hunter2" in v[1]]
    for path in root.rglob("*"):  # nor anywhere in clear
        if path.is_file():
            assert b"hunter2secret" not in path.read_bytes(), path
            if path.suffix == ".parquet":
                assert "hunter2secret" not in str(pq.read_table(path).to_pylist()), path


@pytest.fixture
def sshd_policy() -> Policy:
    return next(p for p in default_policies() if p.dataset == "authentication")


def _seal_pz(keys: KeyRing) -> Pseudonymizer:
    return Pseudonymizer(keys, AliasDirectory.from_pairs([("E1", "karnor01")]))


def _events(pz: Pseudonymizer, rows: list[tuple[str | None, str | None, str | None]]) -> pa.Table:
    """(actor name, target name, outcome) → a pseudonymised authentication table."""

    def tok(name: str | None) -> str | None:
        return None if name is None else pz.token(IdentityKind.user, name)

    return pa.table(
        {
            "actor_user": pa.array([tok(a) for a, _, _ in rows], pa.string()),
            "target_user": pa.array([tok(t) for _, t, _ in rows], pa.string()),
            "outcome": pa.array([o for _, _, o in rows], pa.string()),
        }
    )


def test_held_back_and_take_sealable(keys: KeyRing, sshd_policy: Policy) -> None:
    pz = _seal_pz(keys)
    t = {n: pz.token(IdentityKind.user, n) for n in ("karnor01", "pw!", "svc", "root", "nul")}
    events = _events(
        pz,
        [
            ("karnor01", None, "failure"),
            ("pw!", None, "failure"),
            ("svc", None, "failure"),
            ("svc", None, "success"),
            (None, "root", "success"),
            ("root", None, "failure"),
            ("nul", None, None),  # no outcome: not a failed login
        ],
    )
    hold = held_back(events, sshd_policy)
    assert hold == {t["karnor01"], t["pw!"]}
    ready = take_sealable(pz, hold)
    sealed = {t[n] for n in ("karnor01", "svc", "root", "nul")}
    assert sorted(p for p, _, _ in ready) == sorted(sealed)
    assert ("usr", "employee:E1") in {(k, v) for _, k, v in ready}
    assert t["pw!"] not in pz.pending and t["pw!"] not in pz.sealed
    assert pz.sealed == sealed and not pz.pending
    # seen again failing: still held; then succeeding: sealed once
    failing = _events(pz, [("pw!", None, "failure"), ("svc", None, "failure")])
    assert t["pw!"] in pz.pending and t["svc"] not in pz.pending  # sealed ones never re-queue
    assert take_sealable(pz, held_back(failing, sshd_policy)) == []
    succeeding = _events(pz, [("pw!", None, "success")])
    assert take_sealable(pz, held_back(succeeding, sshd_policy)) == [(t["pw!"], "usr", "pw!")]
    assert take_sealable(pz, held_back(succeeding, sshd_policy)) == []


def test_held_back_only_for_login_tables(keys: KeyRing, sshd_policy: Policy) -> None:
    pz = _seal_pz(keys)
    events = _events(pz, [("pw!", None, "failure")])
    others = [p for p in default_policies() if p.dataset != "authentication"]
    assert others and all(held_back(events, p) == set() for p in others)
    assert held_back(events.drop_columns(["outcome"]), sshd_policy) == set()
    assert held_back(events, sshd_policy) == {pz.token(IdentityKind.user, "pw!")}
    ready = take_sealable(pz, set())
    assert [v for _, _, v in ready] == ["pw!"]


# --- 7. foreign and moved entries -------------------------------------------------


def test_foreign_and_mismatched_entries_are_rejected(
    layout: StoreLayout, vault_key: X25519PrivateKey, config: VaultConfig
) -> None:
    keys = load_keys(layout.keys)
    vault = vault_pseudonyms(layout)
    none = AliasDirectory()
    p_forged, p_lying, p_true = (user_token(keys, none, n) for n in ("admin", "support", "deploy"))
    assert not {p_forged, p_lying, p_true} & vault  # held-back names: no entry yet
    stranger = Sealer(config.public(), os.urandom(32))  # has the public key, not the MAC key
    ingest_host = Sealer(config.public(), mac_key(keys.pseudonym))
    write_entries(layout, "zz-foreign", stranger.seal([(p_forged, "usr", "employee:E10001")]))
    write_entries(
        layout,
        "zz-genuine",
        ingest_host.seal([(p_lying, "usr", "employee:E10002"), (p_true, "usr", "deploy")]),
    )
    wanted = [p_forged, p_lying, p_true]
    entries = find_entries(layout, wanted)
    assert entries.num_rows == 3
    check = store_check(keys, entries)
    assert not check(p_forged, "usr", "employee:E10001")  # foreign MAC
    assert not check(p_forged, "usr", "admin")  # even the true identity: foreign entry
    assert not check(p_lying, "usr", "employee:E10002")  # MAC fine, HMAC does not match
    assert check(p_true, "usr", "deploy")  # the genuine article passes
    opened = open_entries(vault_key, entries, wanted, check)
    assert opened.identities == {p_true: ("usr", "deploy")}
    assert sorted(opened.failed_check) == sorted([p_forged, p_lying])


def test_a_planted_entry_never_reveals_a_false_identity(
    layout: StoreLayout, vault_key: X25519PrivateKey, config: VaultConfig
) -> None:
    """A foreign entry for a pseudonym that already has a genuine one, in a file that
    sorts first: whichever entry is used, the false identity is never revealed."""
    keys = load_keys(layout.keys)
    rows = [r for r in all_entries(layout).to_pylist() if r["pseudonym"].startswith("usr-")]
    target = rows[0]["pseudonym"]
    truth = open_sealed(vault_key, target, rows[0]["sealed"])
    forged = Sealer(config.public(), os.urandom(32)).seal([(target, "usr", "employee:E99999")])
    write_entries(layout, "0000-planted", forged)
    entries = find_entries(layout, [target])
    opened = open_entries(vault_key, entries, [target], store_check(keys, entries))
    assert opened.identities.get(target) in (None, truth)
    assert opened.identities or opened.failed_check == [target]
    # what reveal and bundle use: the MAC-valid entry wins over the planted one
    genuine, foreign = genuine_entries(entries, vault_mac_keys(keys))
    assert genuine.num_rows == 1 and foreign == []
    opened = open_entries(vault_key, genuine, [target], store_check(keys, genuine), foreign)
    assert opened.identities == {target: truth}


def test_an_entry_moved_to_another_pseudonym_does_not_open(
    built: Built, vault_key: X25519PrivateKey, store_keys: KeyRing
) -> None:
    rows = all_entries(built.layout).to_pylist()
    p, q = rows[0], rows[1]
    assert open_sealed(vault_key, p["pseudonym"], p["sealed"])
    with pytest.raises(VaultError, match="does not open"):
        open_sealed(vault_key, q["pseudonym"], p["sealed"])
    # even re-MACed for Q by someone holding the MAC key, HPKE's info binding refuses it
    vault_mac = mac_key(store_keys.pseudonym)
    moved = pa.table(
        [[q["pseudonym"]], [p["kind"]], [p["sealed"]],
         [entry_mac(vault_mac, q["pseudonym"], p["kind"], p["sealed"])]],
        schema=VAULT_SCHEMA,
    )  # fmt: skip
    check = store_check(store_keys, moved)
    opened = open_entries(vault_key, moved, [q["pseudonym"]], check)
    assert opened.identities == {} and opened.failed_check == [q["pseudonym"]]


# --- 8. Sealer round trip, nothing secret in repr ---------------------------------


def test_sealer_round_trip(keys: KeyRing) -> None:
    private = X25519PrivateKey.generate()
    vault_mac = mac_key(keys.pseudonym)
    assert vault_mac != keys.pseudonym and len(vault_mac) == 32
    identities = [
        ("usr-k1-aaaaaaaaaaaaaaaaaaaaaaaaaa", "usr", "employee:E1"),
        ("hst-k1-bbbbbbbbbbbbbbbbbbbbbbbbbb", "hst", "srv-jump01"),
        ("usr-k1-cccccccccccccccccccccccccc", "usr", "bjørn.ødegård@fjordvik.kommune.no"),
        ("usr-k1-dddddddddddddddddddddddddd", "usr", "a\x00b"),
    ]
    table = Sealer(private.public_key(), vault_mac).seal(identities)
    assert table.schema == VAULT_SCHEMA and table.num_rows == len(identities)
    for row, (pseudonym, kind, value) in zip(table.to_pylist(), identities, strict=True):
        assert (row["pseudonym"], row["kind"]) == (pseudonym, kind)
        assert value.encode() not in row["sealed"]
        assert row["mac"] == entry_mac(vault_mac, pseudonym, kind, row["sealed"])
        assert open_sealed(private, pseudonym, row["sealed"]) == (kind, value)
        with pytest.raises(VaultError):
            open_sealed(X25519PrivateKey.generate(), pseudonym, row["sealed"])
        for broken in (row["sealed"][:-1], row["sealed"][:31], b"", row["sealed"] + b"\x00"):
            with pytest.raises(VaultError):
                open_sealed(private, pseudonym, broken)
    again = Sealer(private.public_key(), vault_mac).seal(identities[:1])
    assert again.column("sealed")[0] != table.column("sealed")[0]  # fresh encapsulation
    assert Sealer(private.public_key(), vault_mac).seal([]).num_rows == 0


def test_run_entries_are_added_file_by_file_once_per_pseudonym(
    keys: KeyRing, tmp_path: Path
) -> None:
    sealer = Sealer(X25519PrivateKey.generate().public_key(), mac_key(keys.pseudonym))
    a, b, c = (f"usr-k1-{x * 26}" for x in "abc")
    first = sealer.seal([(a, "usr", "1"), (b, "usr", "2"), (a, "usr", "1")])
    second = sealer.seal([(b, "usr", "2"), (c, "usr", "3")])
    staged = []
    for n, table in enumerate((first, second)):
        staged.append(tmp_path / f"staged-{n}.parquet")
        pq.write_table(table, staged[-1])
    layout = StoreLayout(tmp_path / "store")
    entries_dir(layout).mkdir(parents=True)
    target = entries_dir(layout) / "run1.parquet"
    assert write_new_entries(layout, iter(staged), target) == 3
    written = pq.read_table(target)
    assert written.column("pseudonym").to_pylist() == [a, b, c]
    assert written.column("sealed").to_pylist() == [
        first.column("sealed")[0].as_py(), first.column("sealed")[1].as_py(),
        second.column("sealed")[1].as_py(),
    ]  # fmt: skip
    again = entries_dir(layout) / "run2.parquet"
    assert write_new_entries(layout, staged, again) == 0  # all in the vault already
    assert not again.exists()
    assert sorted(p.name for p in entries_dir(layout).iterdir()) == ["run1.parquet"]


def test_no_secret_in_repr(
    shares: dict[str, Share],
    store_keys: KeyRing,
    vault_key: X25519PrivateKey,
    config: VaultConfig,
    tmp_path: Path,
) -> None:
    secret_hex = vault_key.private_bytes_raw().hex()
    for share in shares.values():
        shown = repr(share) + str(share)
        assert share.custodian in shown
        assert share.words not in shown
        assert repr(share) == f"Share(custodian={share.custodian!r}, source={share.source!r})"
        words = share.words.split()
        assert not [p for p in zip(words, words[1:], strict=False) if " ".join(p) in shown]
    shown = repr(store_keys)
    for material in (store_keys.pseudonym, store_keys.evidence, store_keys.ipcrypt):
        assert material.hex() not in shown and repr(material) not in shown
    opened = Opened(identities={"usr-k1-x": ("usr", "employee:E10001")})
    assert "E10001" not in repr(opened)
    assert secret_hex not in repr(vault_key)
    # refusals name the file and the custodian, never the words
    bad = tmp_path / "b.share"
    bad.write_text(f"custodian: b\nshare: {shares['a'].words}\n", encoding="utf-8")
    with pytest.raises(CustodianError) as info:
        rebuild_private_key(config, [read_share(bad), shares["c"], shares["d"]])
    assert shares["a"].words.split()[-1] not in str(info.value).split()
