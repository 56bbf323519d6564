"""Prefix-preserving IP address encryption: ipcrypt-pfx of draft-denis-ipcrypt.

Analysts need to see that two log events came from the same network without seeing
which network it was. ipcrypt-pfx gives that: two addresses sharing their first n bits
encrypt to addresses sharing exactly their first n bits, and the key holder can decrypt.
IPv4 stays IPv4 and IPv6 stays IPv6, so the outputs still fit address columns and tools.

The algorithm, per address (16-byte form; IPv4 as IPv4-mapped ::ffff:a.b.c.d):
for each bit from the most significant one, take the bits before it (the prefix),
pad them to one block as zeros || 1 || prefix, and flip the bit by the lowest bit of
AES(K1, block) XOR AES(K2, block), K1 and K2 being the two halves of the 32-byte key.
IPv4-mapped addresses start at bit 96: only their 32 IPv4 bits are encrypted.

This module runs that loop once per bit position for a whole batch: each AES call
encrypts the padded prefixes of every address in the batch, as independent blocks.
"""

# Hand-written: no well-kept Python library implements ipcrypt-pfx (the draft's own
# Python code is a per-address reference implementation, not a maintained package).

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

_V4_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"
_V4_START = 96  # bits of the 16-byte form left unencrypted for IPv4(-mapped) addresses
_U64 = np.dtype(">u8")


def encrypt_pfx(addresses: Sequence[str], key: bytes) -> list[str]:
    """Encrypt each address with ipcrypt-pfx under `key` (32 bytes, halves differ).

    Each output keeps the family of its input text: IPv4 in, IPv4 out; IPv6 in, IPv6
    out (as `ipaddress` prints it). Raises ValueError naming the item's 0-based index,
    never the address, when an item is not an IP address.
    """
    return _run(addresses, key, decrypt=False)


def decrypt_pfx(addresses: Sequence[str], key: bytes) -> list[str]:
    """Invert `encrypt_pfx` under the same key."""
    return _run(addresses, key, decrypt=True)


def _ciphers(key: bytes) -> tuple[CipherContext, CipherContext]:
    if not isinstance(key, bytes | bytearray) or len(key) != 32 or key[:16] == key[16:]:
        # Equal halves would make AES(K1, x) XOR AES(K2, x) zero: no encryption at all.
        raise ValueError("ipcrypt-pfx key must be 32 bytes with two different halves")
    # ECB on purpose: each block is a separate PRF input (one padded prefix), not data.
    return (
        Cipher(algorithms.AES(bytes(key[:16])), modes.ECB()).encryptor(),
        Cipher(algorithms.AES(bytes(key[16:])), modes.ECB()).encryptor(),
    )


def _parse(addresses: Sequence[str]) -> tuple[list[bytes], list[bool]]:
    """16-byte forms and whether each input was written as IPv4."""
    packed: list[bytes] = []
    is_v4: list[bool] = []
    for i, text in enumerate(addresses):
        ip = None
        if isinstance(text, str):
            # Raise below, not in a handler: a chained error would quote the text.
            with contextlib.suppress(ValueError):
                ip = ipaddress.ip_address(text)
        if ip is None or getattr(ip, "scope_id", None) is not None:
            raise ValueError(f"not an IP address (item {i})")
        packed.append(_V4_MAPPED_PREFIX + ip.packed if ip.version == 4 else ip.packed)
        is_v4.append(ip.version == 4)
    return packed, is_v4


def _run(addresses: Sequence[str], key: bytes, *, decrypt: bool) -> list[str]:
    ciphers = _ciphers(key)
    packed, is_v4 = _parse(addresses)
    out: list[bytes] = [b""] * len(packed)
    # Which bits are encrypted depends on the 16-byte value (IPv4-mapped or not), as in
    # the draft; an IPv4-mapped IPv6 text is therefore treated like the IPv4 address.
    mapped = [p[:12] == _V4_MAPPED_PREFIX for p in packed]
    for start, rows in (
        (_V4_START, [i for i, m in enumerate(mapped) if m]),
        (0, [i for i, m in enumerate(mapped) if not m]),
    ):
        if rows:
            results = _pfx_batch([packed[i] for i in rows], start, ciphers, decrypt)
            for i, result in zip(rows, results, strict=True):
                out[i] = result
    return [
        str(ipaddress.IPv4Address(b[12:]) if v4 else ipaddress.IPv6Address(b))
        for b, v4 in zip(out, is_v4, strict=True)
    ]


def _pfx_batch(
    packed: list[bytes], start: int, ciphers: tuple[CipherContext, CipherContext], decrypt: bool
) -> list[bytes]:
    """Encrypt (or decrypt) bits start..127 of every 16-byte value, one AES call per key
    and bit position for the whole batch."""
    words = np.frombuffer(b"".join(packed), dtype=_U64).reshape(-1, 2).astype(np.uint64)
    flips = np.zeros_like(words)  # output = input XOR flips
    # First padded prefix, zeros || 1 || the `start` bits before: the same for every row
    # (no bits for IPv6; for IPv4 the mapped prefix 0...0ffff under a 1 at bit 96).
    first = 1 << start | int.from_bytes(packed[0][: start // 8], "big")
    padded = np.zeros_like(words)
    padded[:] = divmod(first, 1 << 64)  # as (high, low) 64-bit words
    one = np.uint64(1)
    for prefix_len in range(start, 128):
        block = padded.astype(_U64).tobytes()  # big-endian: the AES input blocks
        e1, e2 = (np.frombuffer(c.update(block), dtype=np.uint8)[15::16] for c in ciphers)
        cipher_bit = ((e1 ^ e2) & 1).astype(np.uint64)  # lowest bit of each PRF output

        high, low = divmod(127 - prefix_len, 64)  # the bit being processed, 0 = LSB
        col, shift = 1 - high, np.uint64(low)
        in_bit = (words[:, col] >> shift) & one
        flips[:, col] |= cipher_bit << shift
        # The next prefix takes the plaintext bit: the input's when encrypting, the
        # bit just recovered when decrypting.
        plain_bit = in_bit ^ cipher_bit if decrypt else in_bit
        padded[:, 0] = (padded[:, 0] << one) | (padded[:, 1] >> np.uint64(63))
        padded[:, 1] = (padded[:, 1] << one) | plain_bit
    result = (words ^ flips).astype(_U64).tobytes()
    return [result[i : i + 16] for i in range(0, len(result), 16)]
