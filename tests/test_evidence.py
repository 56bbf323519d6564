"""Evidence tags are keyed HMACs of the exact raw line."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa

from transforms.evidence import evidence_tags


def test_tags_are_hmac_sha256_of_raw_bytes() -> None:
    key = bytes(range(32))
    lines = [b"Jan  8 03:37:09 fw kernel: SRC=10.0.0.1", b"", b"\xff\xfe bad utf8"]
    tags = evidence_tags(pa.array(lines, pa.binary()), key).to_pylist()
    for line, tag in zip(lines, tags, strict=True):
        assert tag == hmac.new(key, line, "sha256").hexdigest()[:32]


def test_tag_is_not_a_plain_hash_and_depends_on_key() -> None:
    line = b"USER=kari.nordmann@fjordvik.kommune.no"
    a = evidence_tags(pa.array([line], pa.binary()), b"a" * 32)[0].as_py()
    b = evidence_tags(pa.array([line], pa.binary()), b"b" * 32)[0].as_py()
    assert a != b
    assert a != hashlib.sha256(line).hexdigest()[:32]


def test_sliced_input() -> None:
    arr = pa.array([b"x", b"y", b"z"], pa.binary())
    assert evidence_tags(arr.slice(1, 2), b"k" * 32).to_pylist() == (
        evidence_tags(pa.array([b"y", b"z"], pa.binary()), b"k" * 32).to_pylist()
    )


def test_long_key_and_many_lengths_match_hmac() -> None:
    key = bytes(range(100))  # longer than a SHA-256 block: hashed first, as RFC 2104 says
    lines = [bytes([i % 251]) * i for i in range(0, 300, 7)]
    tags = evidence_tags(pa.array(lines, pa.binary()), key).to_pylist()
    assert tags == [hmac.new(key, line, "sha256").hexdigest()[:32] for line in lines]
