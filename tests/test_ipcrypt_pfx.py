"""ipcrypt-pfx: published vectors, round trips, prefix preservation, batching, errors."""

from __future__ import annotations

import ipaddress
import json
import traceback
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from transforms import ipcrypt_pfx
from transforms.ipcrypt_pfx import decrypt_pfx, encrypt_pfx

VECTORS_PATH = Path(__file__).resolve().parents[2] / "shared/fixtures/ipcrypt/test_vectors.json"
PFX_VECTORS = [v for v in json.loads(VECTORS_PATH.read_text()) if v["variant"] == "ipcrypt-pfx"]
KEY = bytes.fromhex(PFX_VECTORS[0]["key"])
KEY_ERROR = "ipcrypt-pfx key must be 32 bytes with two different halves"

keys = st.binary(min_size=32, max_size=32).filter(lambda k: k[:16] != k[16:])
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
any_ip = st.one_of(ipv4, ipv6)


def _bits(address: str) -> tuple[int, int]:
    """The address as an integer and its width in bits."""
    ip = ipaddress.ip_address(address)
    return int(ip), ip.max_prefixlen


def _common_prefix_len(a: str, b: str) -> int:
    (x, width), (y, _) = _bits(a), _bits(b)
    return width - (x ^ y).bit_length()


def test_vector_file_has_pfx_vectors() -> None:
    assert len(PFX_VECTORS) >= 10


@pytest.mark.parametrize("vector", PFX_VECTORS, ids=lambda v: f"{v['key'][:8]}-{v['ip']}")
def test_published_vectors(vector: dict[str, str]) -> None:
    key = bytes.fromhex(vector["key"])
    assert encrypt_pfx([vector["ip"]], key) == [vector["encrypted_ip"]]
    assert decrypt_pfx([vector["encrypted_ip"]], key) == [vector["ip"]]


def test_published_vectors_as_one_batch_per_key() -> None:
    for key_hex in {v["key"] for v in PFX_VECTORS}:
        vectors = [v for v in PFX_VECTORS if v["key"] == key_hex]
        key = bytes.fromhex(key_hex)
        plain = [v["ip"] for v in vectors]
        cipher = [v["encrypted_ip"] for v in vectors]
        assert encrypt_pfx(plain, key) == cipher
        assert decrypt_pfx(cipher, key) == plain


@settings(deadline=None)
@given(addresses=st.lists(any_ip, max_size=20), key=keys)
def test_round_trip(addresses: list[str], key: bytes) -> None:
    encrypted = encrypt_pfx(addresses, key)
    assert [ipaddress.ip_address(e).version for e in encrypted] == [
        ipaddress.ip_address(a).version for a in addresses
    ]
    assert decrypt_pfx(encrypted, key) == addresses


@settings(deadline=None)
@given(data=st.data(), key=keys, version=st.sampled_from([4, 6]))
def test_prefix_preservation(data: st.DataObject, key: bytes, version: int) -> None:
    width = 32 if version == 4 else 128
    a = data.draw(st.integers(0, 2**width - 1), label="a")
    n = data.draw(st.integers(0, width), label="shared prefix bits")
    tail = data.draw(st.integers(0, 2**width - 1), label="tail")
    if n == width:
        b = a
    else:  # keep a's first n bits, flip bit n, anything after it
        low = width - n - 1
        b = (a >> (low + 1) << (low + 1)) | (~a & (1 << low)) | (tail & ((1 << low) - 1))
    # IPv4-mapped IPv6 addresses are encrypted from bit 96 on (see the dedicated test).
    assume(version == 4 or not any(ipaddress.IPv6Address(i).ipv4_mapped for i in (a, b)))
    address = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    x, y = str(address(a)), str(address(b))
    assert _common_prefix_len(x, y) == n
    ex, ey = encrypt_pfx([x, y], key)
    assert _common_prefix_len(ex, ey) == n


def test_shared_prefixes_in_published_vectors() -> None:
    key = bytes.fromhex(PFX_VECTORS[-1]["key"])
    plain = ["10.0.0.47", "10.0.0.129", "172.16.5.193", "172.16.97.42"]
    encrypted = encrypt_pfx(plain, key)
    for i in range(len(plain)):
        for j in range(len(plain)):
            assert _common_prefix_len(encrypted[i], encrypted[j]) == _common_prefix_len(
                plain[i], plain[j]
            )


def test_ipv4_mapped_ipv6_encrypts_only_the_ipv4_bits() -> None:
    (v4,) = encrypt_pfx(["192.0.2.1"], KEY)
    (mapped,) = encrypt_pfx(["::ffff:192.0.2.1"], KEY)
    # Same bits as the IPv4 address, still written as IPv6 because it came in as IPv6.
    assert ipaddress.IPv6Address(mapped).ipv4_mapped == ipaddress.IPv4Address(v4)
    assert decrypt_pfx([mapped], KEY) == [str(ipaddress.IPv6Address("::ffff:192.0.2.1"))]


@settings(deadline=None, max_examples=50)
@given(addresses=st.lists(any_ip, max_size=12), key=keys)
def test_batch_equals_one_by_one(addresses: list[str], key: bytes) -> None:
    assert encrypt_pfx(addresses, key) == [encrypt_pfx([a], key)[0] for a in addresses]
    encrypted = encrypt_pfx(addresses, key)
    assert decrypt_pfx(encrypted, key) == [decrypt_pfx([e], key)[0] for e in encrypted]


def test_batch_of_mixed_families_with_duplicates() -> None:
    addresses = ["192.0.2.1", "2001:db8::1", "192.0.2.1", "::ffff:10.0.0.1", "::", "0.0.0.0"]
    assert encrypt_pfx(addresses, KEY) == [encrypt_pfx([a], KEY)[0] for a in addresses]
    assert encrypt_pfx([], KEY) == []
    assert decrypt_pfx([], KEY) == []


class _CountingCipher:
    """Stands in for `Cipher` to count `update` calls on the encryptors it makes."""

    calls = 0

    def __init__(self, *args: Any) -> None:
        self._cipher = Cipher(*args)

    def encryptor(self) -> _CountingCipher:
        self._ctx = self._cipher.encryptor()
        return self

    def update(self, data: bytes) -> bytes:
        _CountingCipher.calls += 1
        return self._ctx.update(data)


@pytest.mark.parametrize(("first", "bits"), [("10.0.0.0", 32), ("2001:db8::", 128)])
def test_one_aes_call_per_key_and_bit_for_a_whole_batch(
    monkeypatch: pytest.MonkeyPatch, first: str, bits: int
) -> None:
    addresses = [str(ipaddress.ip_address(first) + i) for i in range(2000)]
    expected = encrypt_pfx(addresses, KEY)
    _CountingCipher.calls = 0
    monkeypatch.setattr(ipcrypt_pfx, "Cipher", _CountingCipher)
    assert encrypt_pfx(addresses, KEY) == expected
    assert _CountingCipher.calls == 2 * bits  # K1 and K2, once per bit position
    _CountingCipher.calls = 0
    assert decrypt_pfx(expected, KEY) == addresses
    assert _CountingCipher.calls == 2 * bits


@pytest.mark.parametrize(
    "key",
    [b"", KEY[:31], KEY + b"\x00", bytes(32), b"0123456789abcdef" * 2, KEY.hex()],
    ids=["empty", "31-bytes", "33-bytes", "zeros", "equal-halves", "hex-text"],
)
@pytest.mark.parametrize("function", [encrypt_pfx, decrypt_pfx])
def test_bad_key(function: Any, key: Any) -> None:
    with pytest.raises(ValueError) as excinfo:
        function(["192.0.2.1"], key)
    assert str(excinfo.value) == KEY_ERROR


@pytest.mark.parametrize(
    "bad",
    [
        "alice.example.org",
        "300.1.2.3",
        "192.0.2.1/24",
        "fe80::1%eth0",
        "2001:db8::g",
        "",
        " 10.1.2.3",
    ],
)
@pytest.mark.parametrize("function", [encrypt_pfx, decrypt_pfx])
def test_bad_address_is_not_quoted(function: Any, bad: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        function(["192.0.2.1", "2001:db8::1", bad], KEY)
    assert str(excinfo.value) == "not an IP address (item 2)"
    # Nothing chained either: a logged traceback must not carry the address.
    assert excinfo.value.__context__ is None and excinfo.value.__cause__ is None
    logged = "".join(traceback.format_exception(excinfo.value))
    assert bad.strip() == "" or bad.strip() not in logged


def test_non_string_item_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"^not an IP address \(item 0\)$"):
        encrypt_pfx([3232235777], KEY)  # type: ignore[list-item]
